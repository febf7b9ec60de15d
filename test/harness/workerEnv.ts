import { join } from 'node:path';
import { labGitHubUrlTemplate } from '../../lab/github/gitHost.js';
import { gitCloneSource } from '../../src/activities/index.js';
import type { Lab } from '../lab/labHarness.js';
import { testTemporalAddress } from './temporalEnv.js';

/**
 * A lab worker's environment, as a user runs doctor or the CLI beside the worker: its Temporal task
 * queue, the lab's credentials and tools, GitHub's API where the lab serves Talos's releases on
 * loopback, and GitHub's repositories as the lab hosts them (no internet here): merges are read through
 * git mirrors of the lab's GitHub folder (lab/github/gitHost.ts).
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
    TALOS_UPGRADE_SOURCE: 'git',
    TALOS_UPGRADE_GIT_URL: labGitHubUrlTemplate(lab.dir),
    // Its own mirrors: a CLI process beside the worker's fetches would race for their locks.
    TALOS_UPGRADE_GIT_CACHE: join(lab.dir, 'git-cache-cli'),
  };
}

/** The worker's source of merges in the lab: git mirrors of the lab's GitHub (lab/github/gitHost.ts). */
export const labGitHubSource = (labDir: string, cacheDir = join(labDir, 'git-cache')) =>
  gitCloneSource({ urlTemplate: labGitHubUrlTemplate(labDir), cacheDir });
