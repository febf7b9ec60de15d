import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));
const ENSURE_TOOLS = fileURLToPath(new URL('../scripts/ensure-tools.sh', import.meta.url));

/**
 * Paths of the lab's binaries, built or found by scripts/ensure-tools.sh. Its progress goes to
 * this process's stderr, because the first build takes minutes and silence looks like a hang.
 */
export async function ensureTools<T extends string>(...names: T[]): Promise<Record<T, string>> {
  const child = promisify(execFile)('bash', [ENSURE_TOOLS, ...names], { maxBuffer: 1 << 20 });
  child.child.stderr?.pipe(process.stderr);
  const { stdout } = await child;
  const paths: Partial<Record<string, string>> = {};
  for (const line of stdout.split('\n')) {
    const [name, path] = line.split('=', 2);
    if (name && path) paths[name] = path;
  }
  for (const name of names) {
    if (!paths[name]) throw new Error(`scripts/ensure-tools.sh did not provide ${name}`);
  }
  return paths as Record<T, string>;
}
