import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** What a running lab publishes in <dir>/daemon.json for the CLI, the lab's Terraform providers and the tests. */
export interface DaemonInfo {
  status: 'starting' | 'ready' | 'failed' | 'stopped';
  pid: number;
  preset: string;
  apiUrl?: string;
  registryUrl?: string;
  kubeconfig?: string;
  talosconfig?: string;
  envFile?: string;
  /** The user's repository the lab built (terraform/, talos/patches/): where `talos-upgrade init` writes the inventory. */
  repository?: string;
  error?: string;
  startedAt: string;
  readyAt?: string;
}

export function daemonFile(dir: string): string {
  return join(dir, 'daemon.json');
}

export async function writeDaemonInfo(dir: string, info: DaemonInfo): Promise<void> {
  const file = daemonFile(dir);
  await writeFile(`${file}.tmp`, JSON.stringify(info, null, 2));
  await rename(`${file}.tmp`, file);
}

export async function readDaemonInfo(dir: string): Promise<DaemonInfo | undefined> {
  try {
    return JSON.parse(await readFile(daemonFile(dir), 'utf8')) as DaemonInfo;
  } catch {
    return undefined;
  }
}
