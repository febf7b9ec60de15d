import { access, constants, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { FAILURE, type Inventory } from '../domain/index.js';
import type { ActivityDeps } from './deps.js';
import { nonRetryable, tail } from './errors.js';
import { processAlive } from './processAlive.js';
import { runCommand } from './runCommand.js';

/**
 * Whether a machine config file is SOPS-encrypted: sops writes its metadata (with the MAC over the
 * values) under a top-level `sops` key of each YAML document it encrypts.
 */
export function isSopsEncrypted(text: string): boolean {
  try {
    return parseAllDocuments(text).some((doc) => {
      const sops = doc.toJS() as { sops?: { mac?: unknown } } | null;
      return typeof sops?.sops?.mac === 'string';
    });
  } catch {
    return false;
  }
}

const PLAIN_PREFIX = 'talos-upgrade-config-';

/** Where decrypted configs live while used: memory (/dev/shm) where there is one, else the temp dir. */
async function plainConfigRoot(): Promise<string> {
  try {
    await access('/dev/shm', constants.W_OK);
    return '/dev/shm';
  } catch {
    return tmpdir();
  }
}

/**
 * Removes decrypted configs a worker left behind when it was killed mid-use (a `finally` never ran):
 * the folders of processes that no longer run. Called when a worker starts.
 */
export async function sweepPlainMachineConfigs(): Promise<number> {
  const root = await plainConfigRoot();
  let removed = 0;
  for (const name of await readdir(root).catch(() => [] as string[])) {
    const pid = Number(/^talos-upgrade-config-(\d+)-/.exec(name)?.[1]);
    if (!pid || processAlive(pid)) continue;
    await rm(join(root, name), { recursive: true, force: true });
    removed++;
  }
  return removed;
}

/**
 * Runs `use` with a plain machine config file: the file itself, or, when it is SOPS-encrypted, its
 * decryption in a private temporary directory that is removed afterwards. sops writes the plain text to
 * that file (`--output`), never to stdout, so no line of the config reaches a heartbeat, a log or the
 * history; the age key goes to sops through its environment (SOPS_AGE_KEY), never its arguments.
 */
export async function withPlainMachineConfig<T>(
  deps: ActivityDeps,
  inventory: Inventory,
  path: string,
  use: (plainPath: string) => Promise<T>,
): Promise<T> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw nonRetryable(
      FAILURE.ValidationFailed,
      `the machine config ${path} cannot be read by the worker (${(err as NodeJS.ErrnoException).code ?? String(err)}): put it where the worker runs, readable by its user`,
    );
  }
  if (!isSopsEncrypted(text)) return use(path);
  const keyRef = inventory.machineConfigs?.sopsAgeKey;
  const env: Record<string, string> = {};
  if (keyRef) {
    try {
      env.SOPS_AGE_KEY = (await deps.readSecret(keyRef)).trim();
    } catch (err) {
      throw nonRetryable(
        FAILURE.ValidationFailed,
        `machineConfigs.sopsAgeKey, the age key of ${path}, cannot be read by the worker: ${(err as Error).message}`,
      );
    }
  }
  const dir = await mkdtemp(join(await plainConfigRoot(), `${PLAIN_PREFIX}${process.pid}-`));
  try {
    const plain = join(dir, 'machine-config.yaml');
    const result = await runCommand(
      deps.sops || 'sops',
      ['--decrypt', '--input-type', 'yaml', '--output-type', 'yaml', '--output', plain, path],
      { env, timeoutMs: 30_000 },
    );
    if (result.exitCode !== 0)
      throw nonRetryable(
        FAILURE.ValidationFailed,
        `the machine config ${path} is SOPS-encrypted and sops could not decrypt it: ${tail(result.stderr, 3)}. Give the worker the age key: machineConfigs.sopsAgeKey in the inventory ({file: …} or {env: …}), or SOPS_AGE_KEY_FILE in the worker's environment`,
      );
    return await use(plain);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Runs `use` with `files` (name to text) written into a private temporary directory (mode 0700, each
 * file 0600, in memory where there is /dev/shm), removed afterwards: for a machine config that exists
 * only in a Terraform plan. A worker killed meanwhile leaves it to the sweep at its next start.
 */
export async function withPrivateFiles<T>(
  files: Record<string, string>,
  use: (paths: Record<string, string>) => Promise<T>,
): Promise<T> {
  const dir = await mkdtemp(join(await plainConfigRoot(), `${PLAIN_PREFIX}${process.pid}-`));
  try {
    const paths: Record<string, string> = {};
    for (const [name, text] of Object.entries(files)) {
      paths[name] = join(dir, name);
      await writeFile(paths[name], text, { mode: 0o600 });
    }
    return await use(paths);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
