import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { FAILURE, type Inventory } from '../domain/index.js';
import type { ActivityDeps } from './deps.js';
import { nonRetryable, tail } from './errors.js';
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
  if (keyRef) env.SOPS_AGE_KEY = (await deps.readSecret(keyRef)).trim();
  const dir = await mkdtemp(join(tmpdir(), 'talos-upgrade-config-'));
  try {
    const plain = join(dir, 'machine-config.yaml');
    const result = await runCommand(
      deps.sops || 'sops',
      ['--decrypt', '--input-type', 'yaml', '--output-type', 'yaml', '--output', plain, path],
      { env, timeoutMs: 60_000 },
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
