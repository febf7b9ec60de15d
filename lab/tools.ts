import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));
const ENSURE_TOOLS = fileURLToPath(new URL('../scripts/ensure-tools.sh', import.meta.url));

/** Tool groups of scripts/ensure-tools.sh and the binaries each provides. */
const GROUPS = {
  temporal: ['temporal'],
  kube: ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubectl'],
  kwok: ['kwok'],
  terraform: ['terraform'],
  talos: ['talosctl', 'talos-lab-api', 'terraform-provider-talos', 'terraform-provider-proxmox'],
  sops: ['sops', 'age-keygen'],
  renovate: ['renovate', 'renovate-config-validator'],
  chromium: ['chromium'],
} as const;
type Group = keyof typeof GROUPS;
type BinaryOf<G extends Group> = (typeof GROUPS)[G][number];

/**
 * Paths of the lab's binaries, built or found by scripts/ensure-tools.sh. Its progress goes to
 * this process's stderr, because the first build takes minutes and silence looks like a hang.
 */
export async function ensureTools<G extends Group>(...groups: G[]): Promise<Record<BinaryOf<G>, string>> {
  const child = promisify(execFile)('bash', [ENSURE_TOOLS, ...groups], { maxBuffer: 1 << 20 });
  child.child.stderr?.pipe(process.stderr);
  const { stdout } = await child;
  const paths: Record<string, string> = {};
  for (const line of stdout.split('\n')) {
    const [name, path] = line.split('=', 2);
    if (name && path) paths[name] = path;
  }
  for (const group of groups) {
    for (const name of GROUPS[group]) {
      if (!paths[name]) throw new Error(`scripts/ensure-tools.sh did not provide ${name}`);
    }
  }
  return paths;
}
