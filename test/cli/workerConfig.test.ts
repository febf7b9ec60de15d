import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { loadWorkerConfig, WorkerConfigError } from '../../src/worker/config.js';
import { workflowTaskSlots } from '../../src/worker/taskSlots.js';

const inventory = fileURLToPath(new URL('../../examples/atlas.yaml', import.meta.url));
let env: NodeJS.ProcessEnv;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'talos-upgrade-worker-config-'));
  await writeFile(join(dir, 'kubeconfig'), '');
  await writeFile(join(dir, 'talosconfig'), '');
  env = {
    KUBECONFIG: join(dir, 'kubeconfig'),
    TALOSCONFIG: join(dir, 'talosconfig'),
    TALOS_UPGRADE_SOURCE: 'git',
  };
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const load = (extra: NodeJS.ProcessEnv) => loadWorkerConfig({ inventory: [inventory] }, { ...env, ...extra });

describe('the worker configuration', () => {
  it('leaves the workflow cache to the SDK unless TALOS_UPGRADE_MAX_CACHED_WORKFLOWS sets it', async () => {
    expect((await load({})).maxCachedWorkflows).toBeUndefined();
    expect((await load({ TALOS_UPGRADE_MAX_CACHED_WORKFLOWS: '600' })).maxCachedWorkflows).toBe(600);
  });

  it("runs as many workflow tasks at once as activities (the SDK's 40 at least), within the cache", async () => {
    const slots = async (extra: NodeJS.ProcessEnv) => workflowTaskSlots(await load(extra));
    expect(await slots({})).toBe(40);
    expect(await slots({ TALOS_UPGRADE_MAX_CONCURRENT_ACTIVITIES: '400' })).toBe(400);
    expect(
      await slots({
        TALOS_UPGRADE_MAX_CONCURRENT_ACTIVITIES: '400',
        TALOS_UPGRADE_MAX_CACHED_WORKFLOWS: '300',
      }),
    ).toBe(300);
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

  it('reads the other numbers and durations, with their defaults', async () => {
    const defaults = await load({});
    expect(defaults.maxConcurrentActivities).toBe(20);
    expect(defaults.gaugeIntervalMs).toBe(15_000);
    expect(defaults.pollIntervalMs).toBeUndefined();
    const set = await load({
      TALOS_UPGRADE_MAX_CONCURRENT_ACTIVITIES: '64',
      TALOS_UPGRADE_METRICS_INTERVAL: '1m',
      TALOS_UPGRADE_POLL_INTERVAL: '500ms',
    });
    expect([set.maxConcurrentActivities, set.gaugeIntervalMs, set.pollIntervalMs]).toEqual([64, 60_000, 500]);
  });

  it.each([
    ['TALOS_UPGRADE_MAX_CONCURRENT_ACTIVITIES', '0', 'a whole number of 1 or more'],
    ['TALOS_UPGRADE_MAX_CONCURRENT_ACTIVITIES', '1e1', 'a whole number of 1 or more'],
    ['TALOS_UPGRADE_MAX_CONCURRENT_ACTIVITIES', '', 'a whole number of 1 or more'],
    ['TALOS_UPGRADE_METRICS_INTERVAL', 'often', 'a duration such as 15s'],
    ['TALOS_UPGRADE_POLL_INTERVAL', '0s', 'a duration such as 2s or 500ms'],
  ])('refuses %s="%s" with the variable named', async (name, value, expected) => {
    const error = await load({ [name]: value }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkerConfigError);
    expect((error as Error).message).toBe(`${name} must be ${expected} (got "${value}")`);
  });
});
