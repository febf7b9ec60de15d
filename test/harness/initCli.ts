import { join } from 'node:path';
import { runCli } from '../cli/runCli.js';
import type { Lab } from '../lab/labHarness.js';

/** Runs `talos-upgrade init` as a user would, with the lab's talosconfig, kubeconfig and tools. */
export function runInit(lab: Lab, args: string[]) {
  return runCli(
    ['init', '--talosconfig', lab.env.TALOSCONFIG ?? '', '--kubeconfig', lab.env.KUBECONFIG ?? '', ...args],
    { env: { TALOSCTL: lab.env.TALOSCTL ?? '', TERRAFORM: lab.env.TERRAFORM ?? '' } },
  );
}

/**
 * The inventory init writes for a lab whose machine configs are files (the module-per-node shape),
 * at <lab>/repo/<name>: where the user's inventory sits, at the root of the repository.
 */
export async function initInventory(lab: Lab, name = 'generated.yaml'): Promise<string> {
  const out = join(lab.dir, 'repo', name);
  const secrets = join(lab.dir, 'secrets');
  const result = await runInit(lab, [
    ...['--terraform', join(lab.dir, 'repo', 'terraform'), '--out', out],
    ...['--controlplane-config', join(secrets, 'controlplane.yaml')],
    ...['--worker-config', join(secrets, 'worker.yaml')],
    ...['--backups', join(lab.dir, 'backups')],
  ]);
  if (result.exitCode !== 0) throw new Error(`talos-upgrade init failed:\n${result.stderr}`);
  return out;
}
