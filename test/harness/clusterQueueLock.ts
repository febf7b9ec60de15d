import { mkdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';

export const TEST_LOCKS_ENV = 'TALOS_UPGRADE_TEST_LOCKS';

/**
 * The product keeps one upgrade queue per cluster name (`talos-upgrade-queue:<cluster>`), and the
 * suites share one dev server, two at a time. Two suites driving the atlas queue at once signal each
 * other's queue: the runs go to the other suite's worker and lab, and either suite's teardown
 * terminates the other's queue (two full runs failed that way). A suite that enqueues holds its
 * cluster's queue from before its first test to after its last; the sequencer keeps such suites
 * apart, so the wait is rare. The lock directory belongs to the run (globalSetup makes it, teardown
 * removes it): a lock a crashed suite left dies with that run.
 */
export async function holdClusterQueue(cluster: string, waitMs = 900_000): Promise<() => Promise<void>> {
  const dir = process.env[TEST_LOCKS_ENV];
  if (!dir)
    throw new Error(`${TEST_LOCKS_ENV} is not set: run the tests through jest, whose globalSetup makes it`);
  await mkdir(dir, { recursive: true });
  const lock = join(dir, `queue-${cluster}`);
  const deadline = Date.now() + waitMs;
  let told = false;
  // mkdir is atomic: exactly one suite creates the directory, the others find it there.
  while (
    !(await mkdir(lock).then(
      () => true,
      (error: NodeJS.ErrnoException) => {
        if (error.code === 'EEXIST') return false;
        throw error;
      },
    ))
  ) {
    if (Date.now() > deadline)
      throw new Error(`another suite held the ${cluster} upgrade queue for more than ${waitMs / 1000} s`);
    if (!told)
      process.stderr.write(`waiting for another suite to finish with the ${cluster} upgrade queue\n`);
    told = true;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  return () => rmdir(lock).catch(() => undefined);
}
