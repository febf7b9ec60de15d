import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { processAlive } from '../../src/activities/processAlive.js';

export const TEST_LOCKS_ENV = 'TALOS_UPGRADE_TEST_LOCKS';

/**
 * The product keeps one upgrade queue per cluster name (`talos-upgrade-queue:<cluster>`), and the
 * suites share one dev server, two at a time. Two suites driving the atlas queue at once signal each
 * other's queue: the runs go to the other suite's worker and lab, and either suite's teardown
 * terminates the other's queue (two full runs failed that way). A suite that enqueues holds its
 * cluster's queue from before its first test to after its last; the sequencer keeps such suites
 * apart, so the wait is rare.
 *
 * Make it at module level, `acquire()` in beforeAll, `release()` in afterAll whatever happened: a
 * release also stops an acquire still waiting (a beforeAll that timed out), so no suite takes the
 * lock after its own end. The directory belongs to the run (globalSetup makes it, teardown removes
 * it), and a lock whose holder died (a crashed jest worker) is taken over.
 */
export function clusterQueueLock(cluster: string) {
  let owned = false;
  let released = false;
  const lockDir = () => {
    const dir = process.env[TEST_LOCKS_ENV];
    if (!dir)
      throw new Error(`${TEST_LOCKS_ENV} is not set: run the tests through jest, whose globalSetup sets it`);
    return join(dir, `queue-${cluster}`);
  };
  /** Whether mkdir made the lock (mkdir is atomic: one suite makes it, the others find it there). */
  const take = async (lock: string) => {
    try {
      await mkdir(lock);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number(await readFile(join(lock, 'pid'), 'utf8').catch(() => ''));
      if (holder && !processAlive(holder)) await rm(lock, { recursive: true, force: true });
      return false;
    }
    await writeFile(join(lock, 'pid'), String(process.pid));
    return true;
  };
  return {
    async acquire(waitMs = 600_000): Promise<void> {
      const lock = lockDir();
      await mkdir(join(lock, '..'), { recursive: true });
      const deadline = Date.now() + waitMs;
      let told = false;
      let got = false;
      while (!released && !(got = await take(lock))) {
        if (Date.now() > deadline)
          throw new Error(`another suite held the ${cluster} upgrade queue for more than ${waitMs / 1000} s`);
        if (!told)
          process.stderr.write(`waiting for another suite to finish with the ${cluster} upgrade queue\n`);
        told = true;
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
      if (released) {
        if (got) await rm(lock, { recursive: true, force: true });
        throw new Error(`the ${cluster} upgrade queue was released before it was acquired`);
      }
      owned = true;
    },
    async release(): Promise<void> {
      // Also seen by an acquire still waiting: it gives the lock back if it gets it.
      released = true;
      if (owned) await rm(lockDir(), { recursive: true, force: true });
      owned = false;
    },
  };
}
