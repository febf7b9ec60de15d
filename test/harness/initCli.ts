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
 * init for a lab whose machine configs are files (the module-per-node shape), writing `out`: the
 * lab's Terraform root, the configs talosctl's generator wrote, its backups folder.
 */
export function initWithConfigs(lab: Lab, out: string) {
  const secrets = join(lab.dir, 'secrets');
  return runInit(lab, [
    ...['--terraform', join(lab.dir, 'repo', 'terraform'), '--out', out],
    ...['--controlplane-config', join(secrets, 'controlplane.yaml')],
    ...['--worker-config', join(secrets, 'worker.yaml')],
    ...['--backups', join(lab.dir, 'backups')],
  ]);
}

/** The inventory init writes at <lab>/repo/<name>: where the user's sits, at the repository's root. */
export async function initInventory(lab: Lab, name = 'generated.yaml'): Promise<string> {
  const out = join(lab.dir, 'repo', name);
  const result = await initWithConfigs(lab, out);
  if (result.exitCode !== 0) throw new Error(`talos-upgrade init failed:\n${result.stderr}`);
  return out;
}
