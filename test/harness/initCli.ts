import { join } from 'node:path';
import { initArguments } from '../../lab/userFiles.js';
import { runCli } from '../cli/runCli.js';
import type { Lab } from '../lab/labHarness.js';

const tools = (lab: Lab) => ({ TALOSCTL: lab.env.TALOSCTL ?? '', TERRAFORM: lab.env.TERRAFORM ?? '' });

/** Runs `talos-upgrade init` as a user would, with the lab's talosconfig, kubeconfig and tools. */
export function runInit(lab: Lab, args: string[]) {
  return runCli(
    ['init', '--talosconfig', lab.env.TALOSCONFIG ?? '', '--kubeconfig', lab.env.KUBECONFIG ?? '', ...args],
    { env: tools(lab) },
  );
}

/**
 * init with every file the lab's user holds (the Terraform root, the configs talosctl's generator
 * wrote, a backups folder: lab/userFiles.ts), writing `out`.
 */
export function initWithConfigs(lab: Lab, out: string) {
  const credentials = { kubeconfig: lab.env.KUBECONFIG ?? '', talosconfig: lab.env.TALOSCONFIG ?? '' };
  return runCli(['init', ...initArguments(lab.dir, credentials, out)], { env: tools(lab) });
}

/** The inventory init writes at <lab>/repo/<name>, unedited: where the user's sits, at the repository's root. */
export async function initInventory(lab: Lab, name = 'generated.yaml'): Promise<string> {
  const out = join(lab.dir, 'repo', name);
  const result = await initWithConfigs(lab, out);
  if (result.exitCode !== 0) throw new Error(`talos-upgrade init failed:\n${result.stderr}`);
  return out;
}
