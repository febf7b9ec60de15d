import { join } from 'node:path';
import { initArguments } from '../../lab/userFiles.js';
import { runCli } from '../cli/runCli.js';
import type { Lab } from '../lab/labHarness.js';

const tools = (lab: Lab) => ({ TALOSCTL: lab.env.TALOSCTL ?? '', TERRAFORM: lab.env.TERRAFORM ?? '' });

/** Runs `talos-upgrade init` as a user would, with the lab's talosconfig, kubeconfig and tools. */
export function runInit(lab: Lab, args: string[]) {
  return runCli(
    ['init', '--talosconfig', lab.env.TALOSCONFIG ?? '', '--kubeconfig', lab.env.KUBECONFIG ?? '', ...args],
    // As initAsUser's: init reads 15 nodes and a Terraform state, past a minute with four suites on 2 cores.
    { env: tools(lab), timeoutMs: 300_000 },
  );
}

/**
 * init with every file a lab cluster's user holds (the Terraform root, the configs talosctl's
 * generator wrote, a backups folder: lab/userFiles.ts), writing `out`. A fleet member's own
 * credentials replace the lab's.
 */
export function initAsUser(
  clusterDir: string,
  env: Record<string, string>,
  out: string,
  credentials = { kubeconfig: env.KUBECONFIG ?? '', talosconfig: env.TALOSCONFIG ?? '' },
  extra: string[] = [],
) {
  return runCli(['init', ...initArguments(clusterDir, credentials, out), ...extra], {
    env: { TALOSCTL: env.TALOSCTL ?? '', TERRAFORM: env.TERRAFORM ?? '' },
    timeoutMs: 300_000,
  });
}

/** initAsUser on a single-cluster lab, with `extra` flags (a user's --name, --github). */
export function initWithConfigs(lab: Lab, out: string, extra: string[] = []) {
  return initAsUser(lab.dir, lab.env, out, undefined, extra);
}

/** The inventory init writes at <lab>/repo/<name>, unedited: where the user's sits, at the repository's root. */
export async function initInventory(
  lab: Lab,
  name = 'generated.yaml',
  extra: string[] = [],
): Promise<string> {
  const out = join(lab.dir, 'repo', name);
  const result = await initWithConfigs(lab, out, extra);
  if (result.exitCode !== 0) throw new Error(`talos-upgrade init failed:\n${result.stderr}`);
  return out;
}
