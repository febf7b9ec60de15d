import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ensureTools } from '../../lab/tools.js';
import type { ActivityDeps } from '../../src/activities/index.js';
import {
  isSopsEncrypted,
  sweepPlainMachineConfigs,
  withPlainMachineConfig,
} from '../../src/activities/machineConfigFile.js';
import { parseInventory, type Inventory } from '../../src/domain/index.js';
import { secretReader } from '../../src/worker/secrets.js';

/**
 * SOPS-encrypted machine configs, with the real sops and age keys: decrypted into a private file that
 * is gone afterwards, never onto stdout; without the key, refused with what to give the worker.
 */
const run = promisify(execFile);
let dir: string;
let tools: Record<'sops' | 'age-keygen', string>;
let encrypted: string;
let keyFile: string;
const plain = 'version: v1alpha1\nmachine:\n  type: worker\n  token: a-secret-join-token\n';

beforeAll(async () => {
  tools = await ensureTools('sops');
  dir = await mkdtemp(join(tmpdir(), 'sops-config-'));
  keyFile = join(dir, 'age.key');
  await run(tools['age-keygen'], ['-o', keyFile]);
  const recipient = (await run(tools['age-keygen'], ['-y', keyFile])).stdout.trim();
  await writeFile(join(dir, 'worker.yaml'), plain);
  encrypted = join(dir, 'worker.sops.yaml');
  await run(tools.sops, ['--encrypt', '--age', recipient, '--output', encrypted, join(dir, 'worker.yaml')]);
}, 600_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function inventoryWithKey(key?: { file: string }): Promise<Inventory> {
  const parsed = parseInventory(await readFile('examples/atlas.yaml', 'utf8'));
  if (!parsed.ok) throw new Error('examples/atlas.yaml is valid');
  const machineConfigs = parsed.inventory.machineConfigs ?? { controlplane: '' };
  return { ...parsed.inventory, machineConfigs: { ...machineConfigs, ...(key ? { sopsAgeKey: key } : {}) } };
}

const deps = () => ({ sops: tools.sops, readSecret: secretReader({}) }) as unknown as ActivityDeps;

describe('SOPS-encrypted machine configs', () => {
  it('tells an encrypted file from a plain one', async () => {
    expect(isSopsEncrypted(await readFile(encrypted, 'utf8'))).toBe(true);
    expect(isSopsEncrypted(plain)).toBe(false);
    expect(isSopsEncrypted('sops: [unclosed')).toBe(false);
  });

  it('decrypts with the inventory key into a private file that is removed after use', async () => {
    let seen = '';
    const text = await withPlainMachineConfig(
      deps(),
      await inventoryWithKey({ file: keyFile }),
      encrypted,
      async (path) => {
        seen = path;
        expect((await stat(join(path, '..'))).mode & 0o077).toBe(0);
        return readFile(path, 'utf8');
      },
    );
    expect(text).toContain('a-secret-join-token');
    await expect(stat(seen)).rejects.toThrow(/ENOENT/);
  });

  it('a plain file is used as it is; an encrypted one without its key is refused with what to do', async () => {
    const path = join(dir, 'worker.yaml');
    expect(await withPlainMachineConfig(deps(), await inventoryWithKey(), path, async (p) => p)).toBe(path);
    await expect(
      withPlainMachineConfig(deps(), await inventoryWithKey(), encrypted, async () => 'used'),
    ).rejects.toThrow(/SOPS-encrypted and sops could not decrypt it: .*machineConfigs\.sopsAgeKey/s);
    await expect(
      withPlainMachineConfig(deps(), await inventoryWithKey(), join(dir, 'missing.yaml'), async () => 'used'),
    ).rejects.toThrow(/cannot be read by the worker \(ENOENT\)/);
  });
});

describe('decrypted configs a killed worker left behind', () => {
  it('are removed when a worker starts; a running process keeps its own', async () => {
    const root = (await stat('/dev/shm')
      .then(() => true)
      .catch(() => false))
      ? '/dev/shm'
      : tmpdir();
    // A process that has exited: its pid no longer runs.
    const gone = await new Promise<number>((resolve) => {
      const child = spawn('true');
      child.on('exit', () => resolve(child.pid ?? 0));
    });
    const left = await mkdtemp(join(root, `talos-upgrade-config-${gone}-`));
    const mine = await mkdtemp(join(root, `talos-upgrade-config-${process.pid}-`));
    try {
      expect(await sweepPlainMachineConfigs()).toBeGreaterThanOrEqual(1);
      await expect(stat(left)).rejects.toThrow(/ENOENT/);
      expect((await stat(mine)).isDirectory()).toBe(true);
    } finally {
      await rm(mine, { recursive: true, force: true });
    }
  });
});
