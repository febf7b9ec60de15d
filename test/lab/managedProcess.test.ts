import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { startProcess } from '../../lab/process/managedProcess.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'talos-managed-process-'));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

// A server that dies at once (etcd on a taken port) is stopped by the lab as soon as its exit is
// seen, while the last of its output can still be on its way: it must reach the log, and the log must
// not be written after it was ended (a CI run failed on 'write after end'). The late writer here is a
// grandchild that outlives the child, which makes "output after exit" certain rather than a race.
it('keeps the output that arrives after a stopped child has exited', async () => {
  const proc = startProcess(
    'late-writer',
    'sh',
    ['-c', 'echo early; (sleep 0.5; echo late; echo late >&2) & exit 3'],
    dir,
  );
  await new Promise((resolve) => proc.child.once('exit', resolve));
  await proc.stop();
  expect(await readFile(proc.logFile, 'utf8')).toBe('early\nlate\nlate\n');
  expect(await proc.lastLines()).toBe('early\nlate\nlate');
}, 30_000);

it('ends the log of a child whose grandchild holds its output open', async () => {
  const proc = startProcess('holder', 'sh', ['-c', '(sleep 30; echo too-late) & echo $!; exit 0'], dir);
  await new Promise((resolve) => proc.child.once('exit', resolve));
  const started = Date.now();
  await proc.stop();
  const grandchild = Number((await readFile(proc.logFile, 'utf8')).trim());
  process.kill(grandchild);
  // Stopped after its 2 s wait for the output, not after the grandchild's 30 s.
  expect(Date.now() - started).toBeLessThan(10_000);
  expect(grandchild).toBeGreaterThan(1);
}, 30_000);
