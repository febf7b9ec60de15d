import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { ClusterProgress, UpgradeRequest } from './types.js';

export const enqueueSignal = defineSignal<[UpgradeRequest]>('enqueue');
export const approveSignal = defineSignal<[{ by: string; comment?: string }]>('approve');
export const rejectSignal = defineSignal<[{ by: string; reason?: string }]>('reject');
export const pauseSignal = defineSignal<[{ by?: string }?]>('pause');
export const resumeSignal = defineSignal<[{ by?: string }?]>('resume');

export const progressQuery = defineQuery<ClusterProgress>('progress');
export const queueQuery = defineQuery<{ running?: UpgradeRequest; pending: UpgradeRequest[]; done: number }>(
  'queue',
);

/** A node's place in its saga, for per-node progress bars: step `index` of `total`, named `step`. */
export const nodeProgressQuery = defineQuery<{ node: string; step: string; index: number; total: number }>(
  'nodeProgress',
);
