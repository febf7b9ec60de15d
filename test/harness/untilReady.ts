import type { ResultPromise } from 'execa';
import { eventually } from '../lab/labHarness.js';

/**
 * Waits until `ready` finds in a started process's output what it waits for, and returns that. Fails
 * with `output()` when the process exits first (a signal included), and kills the process whenever it
 * fails, so that no caller leaves a half-started server behind.
 */
export async function untilReady<T>(
  child: ResultPromise,
  what: string,
  ready: () => T | undefined | false,
  output: () => string,
  timeoutMs: number,
): Promise<Exclude<T, false | undefined | null | '' | 0>> {
  try {
    return await eventually(
      what,
      async () => {
        if (child.exitCode !== null || child.signalCode !== null) {
          await child; // its last output read
          throw new Error(`${what}: it exited first:\n${output()}`);
        }
        return ready();
      },
      timeoutMs,
    );
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
}
