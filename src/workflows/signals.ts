import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { ClusterProgress, UpgradeRequest } from './types.js';

export const enqueueSignal = defineSignal<[UpgradeRequest]>('enqueue');
export const approveSignal = defineSignal<[{ by: string; comment?: string }]>('approve');
export const rejectSignal = defineSignal<[{ by: string; reason?: string }]>('reject');
export const pauseSignal = defineSignal<[{ by?: string }?]>('pause');
export const resumeSignal = defineSignal<[{ by?: string }?]>('resume');

export const progressQuery = defineQuery<ClusterProgress>('progress');
export const queueQuery = defineQuery<{
  running?: UpgradeRequest;
  pending: UpgradeRequest[];
  done: number;
  /** The last runs' outcomes (succeeded, failed, cancelled, rejected, already-run…), newest last. */
  recent?: Array<{ requestId: string; outcome: string }>;
}>('queue');

/** A node's place in its saga, for per-node progress bars: step `index` of `total`, named `step`. */
export const nodeProgressQuery = defineQuery<{
  node: string;
  step: string;
  index: number;
  total: number;
  /** An undo that failed for good and waits for an operator (phase CompensationStuck). */
  stuck?: { undo: string; error: string };
}>('nodeProgress');

/**
 * An operator's answer to a node whose undo is stuck (phase CompensationStuck): `retry` runs that
 * undo again (after fixing what stopped it); `abandon` gives it up, with the reason for the record.
 */
export const undoSignal =
  defineSignal<[{ action: 'retry' | 'abandon'; by: string; reason?: string }]>('undo');
