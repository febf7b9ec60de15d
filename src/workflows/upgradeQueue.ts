import {
  condition,
  continueAsNew,
  executeChild,
  log,
  ParentClosePolicy,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import { clusterUpgrade } from './clusterUpgrade.js';
import { describeFailure } from './failures.js';
import { enqueueSignal, queueQuery } from './signals.js';
import type { UpgradeRequest } from './types.js';

export interface QueueState {
  cluster: string;
  pending: UpgradeRequest[];
  /** Request ids already accepted, newest last: redeliveries of a webhook never start a second run. */
  seen: string[];
  done: number;
}

const REMEMBERED_IDS = 500;
const IDLE_BEFORE_RENEWAL = '24 hours';

/**
 * One queue per cluster (`talos-upgrade-queue:<cluster>`), fed by signal-with-start: upgrades of one
 * cluster — and so of one Terraform state — run strictly one after another, never overlapping.
 */
export async function upgradeQueue(state: QueueState): Promise<void> {
  const { cluster } = state;
  const pending = [...state.pending];
  const seen = [...state.seen];
  let running: UpgradeRequest | undefined;
  let done = state.done;

  setHandler(
    enqueueSignal,
    (request) => {
      if (request.cluster !== cluster) {
        log.warn('ignored a request for another cluster', { queue: cluster, request: request.cluster });
        return;
      }
      if (seen.includes(request.requestId)) {
        log.info('duplicate request ignored', { requestId: request.requestId });
        return;
      }
      seen.push(request.requestId);
      if (seen.length > REMEMBERED_IDS) seen.splice(0, seen.length - REMEMBERED_IDS);
      pending.push(request);
    },
    { description: 'Add an upgrade request; a requestId seen before is ignored' },
  );
  setHandler(queueQuery, () => ({ ...(running ? { running } : {}), pending, done }), {
    description: 'The running request, the waiting ones, how many are done',
  });

  for (;;) {
    const next = pending.shift();
    if (!next) {
      const woke = await condition(() => pending.length > 0, IDLE_BEFORE_RENEWAL);
      if (!woke || workflowInfo().continueAsNewSuggested) break;
      continue;
    }
    running = next;
    try {
      const result = await executeChild(clusterUpgrade, {
        workflowId: `talos-upgrade:${cluster}:${next.requestId}`,
        args: [next],
        // An operator who terminates the queue must not orphan a half-upgraded node.
        parentClosePolicy: ParentClosePolicy.ABANDON,
      });
      log.info('upgrade finished', { requestId: next.requestId, outcome: result.outcome });
    } catch (error) {
      // A failed upgrade is reported by its own workflow; the queue goes on to the next request.
      log.warn('upgrade failed', { requestId: next.requestId, error: describeFailure(error) });
    } finally {
      running = undefined;
      done += 1;
    }
    if (workflowInfo().continueAsNewSuggested) break;
  }
  await continueAsNew<typeof upgradeQueue>({ cluster, pending, seen, done });
}
