import { mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from '@jest/globals';
import { bundlesOf } from '../../bin/lib/entryBundle.js';
import { pruneCache } from '../../src/worker/bundleCache.mjs';
import { WORKFLOW_BUNDLE_NAME } from '../../src/worker/workflowBundle.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

const DAY = 24 * 3600;

/** A cache dir holding these files, each last used the given number of days (or seconds) ago. */
async function cacheWith(files: Record<string, { days?: number; seconds?: number }>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'talos-bundles-'));
  dirs.push(dir);
  const now = Date.now() / 1000;
  for (const [name, { days = 0, seconds = 0 }] of Object.entries(files)) {
    await writeFile(join(dir, name), '// bundle');
    const time = now - days * DAY - seconds;
    await utimes(join(dir, name), time, time);
  }
  return dir;
}

it('keeps the three workflow bundles used last, and the unfinished files of live builders', async () => {
  // Written in an order unlike their ages: the age is what counts, not the name or the order. Another
  // builder's file in the making and a file that is not a bundle stay; a dead builder's file, two
  // hours old, goes.
  const dir = await cacheWith({
    'workflows-a1.js': { days: 5 },
    'workflows-b2.js': { days: 1 },
    'workflows-c3.js': { days: 4 },
    'workflows-d4.js': {},
    'workflows-e5.js': { days: 2 },
    'workflows-f6.js.123.partial': {},
    'notes.txt': {},
    'workflows-a7.js.456.partial': { seconds: 7200 },
  });
  await pruneCache(dir, WORKFLOW_BUNDLE_NAME, 3);
  expect((await readdir(dir)).sort()).toEqual([
    'notes.txt',
    'workflows-b2.js',
    'workflows-d4.js',
    'workflows-e5.js',
    'workflows-f6.js.123.partial',
  ]);
});

it("keeps an entry's bundles used last, and leaves other entries' bundles and builders alone", async () => {
  const hash = (n: number) => String(n).repeat(16);
  const dir = await cacheWith({
    [`src-worker-cli-${hash(1)}.mjs`]: { days: 3 },
    [`src-worker-cli-${hash(2)}.mjs`]: { days: 1 },
    [`src-worker-cli-${hash(3)}.mjs`]: {},
    [`src-worker-cli-${hash(4)}.mjs`]: { days: 2 },
    [`src-worker-cli-${hash(5)}.mjs.77.partial`]: { seconds: 7200 },
    // Older than all of the above, but another entry's: its own pruning decides.
    [`lab-cli-${hash(6)}.mjs`]: { days: 9 },
    [`lab-cli-${hash(7)}.mjs.88.partial`]: { seconds: 7200 },
  });
  await pruneCache(dir, bundlesOf('src/worker/cli.ts'), 3);
  expect((await readdir(dir)).sort()).toEqual([
    `lab-cli-${hash(6)}.mjs`,
    `lab-cli-${hash(7)}.mjs.88.partial`,
    `src-worker-cli-${hash(2)}.mjs`,
    `src-worker-cli-${hash(3)}.mjs`,
    `src-worker-cli-${hash(4)}.mjs`,
  ]);
});
