import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { OperatorAnswer } from '../domain/index.js';
import type { ClusterProgress, DeliveredMerge, QueuedItem, UpgradeRequest } from './types.js';

export const enqueueSignal = defineSignal<[UpgradeRequest]>('enqueue');
/** Merges the webhook recorded (several when they arrived together); each is read when its turn comes. */
export const deliverSignal = defineSignal<[DeliveredMerge[]]>('deliver');
export const approveSignal = defineSignal<[OperatorAnswer]>('approve');
export const rejectSignal = defineSignal<[OperatorAnswer]>('reject');
export const pauseSignal = defineSignal<[{ by?: string }?]>('pause');
export const resumeSignal = defineSignal<[{ by?: string }?]>('resume');
export const overrideWindowSignal = defineSignal<[{ by: string; reason?: string }]>('overrideWindow');

/** What an operator's command left: the run's phase, whether it holds, its approval, window and canary. */
export interface RunState {
  phase: string;
  paused: boolean;
  approval?: ClusterProgress['approval'];
  window?: ClusterProgress['window'];
  canary?: ClusterProgress['canary'];
}

/**
 * The same four commands as Workflow Updates: a validator refuses one that does not apply (approve a
 * run that waits for no approval, resume one that is not paused) with the reason, and one that applies
 * returns the new state. The signals stay for the Web UI's "Send a Signal".
 */
export const approveUpdate = defineUpdate<RunState, [OperatorAnswer]>('approve');
export const rejectUpdate = defineUpdate<RunState, [OperatorAnswer]>('reject');
export const pauseUpdate = defineUpdate<RunState, [{ by?: string }]>('pause');
export const resumeUpdate = defineUpdate<RunState, [{ by?: string }]>('resume');
/** Lets this run start nodes outside the cluster's maintenance windows (refused when it has none). */
export const overrideWindowUpdate = defineUpdate<RunState, [OperatorAnswer]>('overrideWindow');

export const progressQuery = defineQuery<ClusterProgress>('progress');
export const queueQuery = defineQuery<{
  running?: QueuedItem;
  /** What the running item waits for before its run starts (the repository, when a merge is read). */
  reading?: string;
  pending: QueuedItem[];
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

/** The same answer as a Workflow Update: refused when no undo is stuck or an abandon has no reason. */
export const undoUpdate = defineUpdate<
  { undo: string; action: 'retry' | 'abandon' },
  [{ action: 'retry' | 'abandon'; by: string; reason?: string }]
>('undo');
