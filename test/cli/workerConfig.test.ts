import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { loadWorkerConfig, WorkerConfigError } from '../../src/worker/config.js';

const inventory = fileURLToPath(new URL('../../examples/atlas.yaml', import.meta.url));
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'talos-upgrade-worker-config-'));
  await writeFile(join(dir, 'kubeconfig'), '');
  await writeFile(join(dir, 'talosconfig'), '');
  env = {
    KUBECONFIG: join(dir, 'kubeconfig'),
    TALOSCONFIG: join(dir, 'talosconfig'),
    TALOS_UPGRADE_SOURCE: 'git',
  };
});

const load = (extra: NodeJS.ProcessEnv) => loadWorkerConfig({ inventory: [inventory] }, { ...env, ...extra });

describe('the worker configuration', () => {
  it('leaves the workflow cache to the SDK unless TALOS_UPGRADE_MAX_CACHED_WORKFLOWS sets it', async () => {
    expect((await load({})).maxCachedWorkflows).toBeUndefined();
    expect((await load({ TALOS_UPGRADE_MAX_CACHED_WORKFLOWS: '600' })).maxCachedWorkflows).toBe(600);
  });

  it.each(['1', '0', '', 'lots', '2.5', '1e3', ' 600 '])(
    'refuses a workflow cache of "%s" with the variable named',
    async (value) => {
      const error = await load({ TALOS_UPGRADE_MAX_CACHED_WORKFLOWS: value }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(WorkerConfigError);
      expect((error as Error).message).toBe(
        `TALOS_UPGRADE_MAX_CACHED_WORKFLOWS must be a whole number of 2 or more (got "${value}")`,
      );
    },
  );
});
