import {
  condition,
  continueAsNew,
  executeChild,
  log,
  ParentClosePolicy,
  patched,
  setHandler,
  WorkflowIdReusePolicy,
  workflowInfo,
} from '@temporalio/workflow';
import { guard } from './activityOptions.js';
import { clusterUpgrade } from './clusterUpgrade.js';
import { describeFailure, wasCancelled } from './failures.js';
import { enqueueSignal, queueQuery } from './signals.js';
import type { UpgradeRequest } from './types.js';

export interface QueueState {
  cluster: string;
  pending: UpgradeRequest[];
  /** Request ids already accepted, newest last: redeliveries of a webhook never start a second run. */
  seen: string[];
  done: number;
  /** The last runs' outcomes, newest last: a cancel is told apart from a failure. */
  recent?: Array<{ requestId: string; outcome: string }>;
  /** Renew (continue-as-new) after this many runs; Temporal's suggestion otherwise. */
  renewAfter?: number;
}

const REMEMBERED_IDS = 500;
const REMEMBERED_OUTCOMES = 20;
/**
 * Since this patch the queue waits for any run of its cluster it did not start (left behind by a
 * terminated or reset queue) before it starts one, tags the run with its cluster from the start, and
 * never runs one request id twice.
 */
const ONE_RUN_PER_CLUSTER = 'one-run-per-cluster';
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
  const recent = [...(state.recent ?? [])];
  let runs = 0;

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
  setHandler(queueQuery, () => ({ ...(running ? { running } : {}), pending, done, recent }), {
    description: 'The running request, the waiting ones, how many are done, the last outcomes',
  });

  for (;;) {
    const next = pending.shift();
    if (!next) {
      const woke = await condition(() => pending.length > 0, IDLE_BEFORE_RENEWAL);
      if (!woke || workflowInfo().continueAsNewSuggested) break;
      continue;
    }
    running = next;
    const outcome = await runOne(cluster, next);
    recent.push({ requestId: next.requestId, outcome });
    if (recent.length > REMEMBERED_OUTCOMES) recent.splice(0, recent.length - REMEMBERED_OUTCOMES);
    running = undefined;
    done += 1;
    runs += 1;
    if (workflowInfo().continueAsNewSuggested || (state.renewAfter && runs >= state.renewAfter)) break;
  }
  await continueAsNew<typeof upgradeQueue>({
    cluster,
    pending,
    seen,
    done,
    recent,
    ...(state.renewAfter ? { renewAfter: state.renewAfter } : {}),
  });
}

/** One request as a child run; its outcome, told apart: succeeded, cancelled, failed, already run. */
async function runOne(cluster: string, request: UpgradeRequest): Promise<string> {
  const workflowId = `talos-upgrade:${cluster}:${request.requestId}`;
  const guarded = patched(ONE_RUN_PER_CLUSTER);
  try {
    if (guarded) {
      const { waitedFor } = await guard.awaitNoRunningUpgrade({
        cluster,
        taskQueue: workflowInfo().taskQueue,
      });
      if (waitedFor.length) log.warn('waited for an upgrade this queue did not start', { waitedFor });
    }
    const result = await executeChild(clusterUpgrade, {
      workflowId,
      args: [request],
      // An operator who terminates the queue must not orphan a half-upgraded node: the run goes on,
      // and the next queue of this cluster waits for it (above).
      parentClosePolicy: ParentClosePolicy.ABANDON,
      ...(guarded
        ? {
            // The same request never runs twice, whatever the queue remembers.
            workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
            // Visible as this cluster's run from its first moment, for the wait above.
            searchAttributes: { TalosCluster: [cluster] },
          }
        : {}),
    });
    log.info('upgrade finished', { requestId: request.requestId, outcome: result.outcome });
    return result.outcome;
  } catch (error) {
    // The SDK's WorkflowExecutionAlreadyStartedError, known by name (workflows import only the workflow API).
    if (error instanceof Error && error.name === 'WorkflowExecutionAlreadyStartedError') {
      log.warn('this request has run before; not again', { requestId: request.requestId });
      return 'already-run';
    }
    // A failed upgrade is reported by its own workflow; the queue goes on to the next request.
    const cancelled = wasCancelled(error);
    log.warn(cancelled ? 'upgrade cancelled' : 'upgrade failed', {
      requestId: request.requestId,
      error: describeFailure(error),
    });
    return cancelled ? 'cancelled' : 'failed';
  }
}
