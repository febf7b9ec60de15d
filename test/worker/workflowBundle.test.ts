import { mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from '@jest/globals';
import { pruneBundles } from '../../src/worker/workflowBundle.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

it('keeps the three workflow bundles used last, and the unfinished files of live builders', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'talos-bundles-'));
  dirs.push(dir);
  const day = 24 * 3600;
  const now = Date.now() / 1000;
  // Written in an order unlike their ages: the age is what counts, not the name or the order.
  const ages = { a1: 5, b2: 1, c3: 4, d4: 0, e5: 2 };
  for (const [hash, days] of Object.entries(ages)) {
    const file = join(dir, `workflows-${hash}.js`);
    await writeFile(file, '// bundle');
    await utimes(file, now - days * day, now - days * day);
  }
  // Another builder's file in the making, and a file that is not a bundle: both stay. A dead
  // builder's file, two hours old, goes.
  await writeFile(join(dir, 'workflows-f6.js.123.partial'), '');
  await writeFile(join(dir, 'notes.txt'), '');
  const dead = join(dir, 'workflows-a7.js.456.partial');
  await writeFile(dead, '');
  await utimes(dead, now - 7200, now - 7200);
  await pruneBundles(dir);
  expect((await readdir(dir)).sort()).toEqual([
    'notes.txt',
    'workflows-b2.js',
    'workflows-d4.js',
    'workflows-e5.js',
    'workflows-f6.js.123.partial',
  ]);
});
