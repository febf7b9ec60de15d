import type { Lab } from '../lab/labHarness.js';
import { testTemporalAddress } from './temporalEnv.js';

/**
 * A lab worker's environment, as a user runs doctor or the CLI beside the worker: its Temporal task
 * queue, the lab's credentials and tools, and GitHub's API where the lab serves Talos's releases on
 * loopback (no internet here).
 */
export function workerEnvOf(lab: Lab, taskQueue: string): Record<string, string> {
  return {
    TEMPORAL_ADDRESS: testTemporalAddress(),
    TALOS_UPGRADE_TASK_QUEUE: taskQueue,
    KUBECONFIG: lab.env.KUBECONFIG ?? '',
    TALOSCONFIG: lab.env.TALOSCONFIG ?? '',
    TALOSCTL: lab.env.TALOSCTL ?? '',
    TERRAFORM: lab.env.TERRAFORM ?? '',
    SOPS: lab.env.SOPS ?? '',
    TALOS_UPGRADE_RELEASES_API_URL: lab.env.TALOS_UPGRADE_RELEASES_API_URL ?? '',
  };
}
