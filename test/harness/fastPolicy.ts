import type { Inventory } from '../../src/domain/index.js';
import { parseDuration } from '../../src/domain/inventory/duration.js';

/**
 * The lab's waits shortened so a 15-node run takes minutes, not hours: stabilisation 1 s, Ready within
 * 60 s, a 2 s drain that may force (the single-replica PDB app may be force-drained, as the documents
 * accept). In the inventory's own form, for the inventory files the worker processes read.
 */
export const FAST_WAITS = {
  stabilisation: '1s',
  nodeReadyTimeout: '60s',
  drain: { timeout: '2s', force: true },
} as const;

/**
 * FAST_WAITS with the shortest heartbeat timeout the policy allows, for the tests that kill worker
 * processes: a killed worker's step goes on after 20 s, not a minute.
 */
export const FAST_POLICY = { ...FAST_WAITS, heartbeatTimeout: '20s' } as const;

function ms(duration: string): number {
  const parsed = parseDuration(duration);
  if (parsed === undefined) throw new Error(`not a duration: ${duration}`);
  return parsed;
}

/** FAST_WAITS put on an inventory already parsed (the in-process worker's). */
export function withFastWaits(inventory: Inventory): void {
  inventory.policy.stabilisation = ms(FAST_WAITS.stabilisation);
  inventory.policy.nodeReadyTimeout = ms(FAST_WAITS.nodeReadyTimeout);
  inventory.policy.drain = { timeout: ms(FAST_WAITS.drain.timeout), force: FAST_WAITS.drain.force };
}
