import { expect } from '@jest/globals';
import type { Lab } from '../lab/labHarness.js';
import { eventsSince, labStatus, timelineMark, TOUCHING } from './labViews.js';

// Apart from labViews.ts, which the bench scripts load outside jest (where @jest/globals has no expect).

/**
 * Runs `run` (an upgrade that must be refused before anything moves) and checks that it was: the
 * message says why, no node has a result, the lab saw nothing touched, and every node still runs
 * `version`, Ready and uncordoned.
 */
export async function refusedUntouched(
  lab: Lab,
  version: string,
  reason: RegExp,
  run: () => Promise<{ message: string; result: { nodes: unknown[] } }>,
): Promise<void> {
  const mark = await timelineMark(lab);
  const { message, result } = await run();
  expect(message).toMatch(reason);
  expect(result.nodes).toEqual([]);
  expect((await eventsSince(lab, mark)).filter((e) => TOUCHING.has(e.kind))).toEqual([]);
  const rows = await labStatus(lab);
  expect(
    rows.every((row) => row.vm === 'running' && row.ready && !row.cordoned && row.talos === version),
  ).toBe(true);
}
