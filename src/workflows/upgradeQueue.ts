import {
  condition,
  continueAsNew,
  executeChild,
  log,
  ParentClosePolicy,
  setHandler,
  WorkflowIdReusePolicy,
  workflowInfo,
} from '@temporalio/workflow';
import { checkInput, FAILURE, queuedItemSchema } from '../domain/index.js';
import { guard } from './activityOptions.js';
import { CLUSTER_WORKFLOW_TASK_TIMEOUT_MS, clusterUpgrade } from './clusterUpgrade.js';
import { describeFailure, wasCancelled } from './failures.js';
import { absorbPullRequest, readDeliveredMerge } from './deliveredMerge.js';
import { deliverSignal, enqueueSignal, queueQuery } from './signals.js';
import { isDeliveredMerge, type QueuedItem, type UpgradeRequest } from './types.js';

export interface QueueState {
  cluster: string;
  pending: QueuedItem[];
  /**
   * Request ids already accepted, with when (epoch ms), newest last: redeliveries of a webhook never
   * start a second run. Kept for REMEMBERED_FOR_MS, however many merges came meanwhile. (A run's own id
   * is also refused twice by Temporal, and a stale merge is planned from the nodes: it installs nothing.)
   */
  seen: Array<{ id: string; at: number }>;
  done: number;
  /** The last runs' outcomes, newest last: a cancel is told apart from a failure. */
  recent?: Array<{ requestId: string; outcome: string }>;
  /** Renew (continue-as-new) after this many runs; Temporal's suggestion otherwise. */
  renewAfter?: number;
}

/** How long an accepted request id is remembered: by age, never pushed out by a burst of merges. */
const REMEMBERED_FOR_MS = 90 * 24 * 3_600_000;
const REMEMBERED_OUTCOMES = 20;
const IDLE_BEFORE_RENEWAL = '24 hours';
/**
 * How long a merge known only by its push waits for the pull request of the same merge, whose labels
 * (upgrade-pets, upgrade-cattle) only that delivery carries; GitHub sends both within moments.
 */
const PULL_REQUEST_GRACE = '10 seconds';

/**
 * One queue per cluster (`talos-upgrade-queue:<cluster>`), fed by signal-with-start: upgrades of one
 * cluster — and so of one Terraform state — run strictly one after another, never overlapping.
 */
export async function upgradeQueue(state: QueueState): Promise<void> {
  const { cluster } = state;
  const pending = [...state.pending];
  // Entries of another shape (a state written before ages were kept) are dropped, not trusted.
  const seen = state.seen.filter((s) => typeof s === 'object' && s !== null && typeof s.id === 'string');
  let running: QueuedItem | undefined;
  let reading: string | undefined;
  let done = state.done;
  const recent = [...(state.recent ?? [])];
  let runs = 0;
  const remember = (entry: { requestId: string; outcome: string }) => {
    recent.push(entry);
    if (recent.length > REMEMBERED_OUTCOMES) recent.splice(0, recent.length - REMEMBERED_OUTCOMES);
  };

  const accept = (arg: unknown): void => {
    const checked = checkInput(queuedItemSchema(arg), arg);
    if (!checked.ok) {
      // Ends here with its reason, in the queue's record: the queue goes on with the next request.
      const requestId = (arg as { requestId?: unknown } | null)?.requestId;
      const id = typeof requestId === 'string' ? requestId : '(no request id)';
      log.warn('refused an invalid request', { requestId: id, reason: checked.reason });
      remember({ requestId: id, outcome: `${FAILURE.InvalidRequest}: ${checked.reason}` });
      return;
    }
    const item: QueuedItem = checked.value;
    if (item.cluster !== cluster) {
      log.warn('ignored a request for another cluster', { queue: cluster, request: item.cluster });
      return;
    }
    if (seen.some((s) => s.id === item.requestId)) {
      const absorbed = isDeliveredMerge(item) && absorbPullRequest([running, ...pending], item);
      log.info(
        absorbed ? 'the pull request of a recorded push: its labels kept' : 'duplicate request ignored',
        {
          requestId: item.requestId,
        },
      );
      return;
    }
    const now = Date.now();
    seen.push({ id: item.requestId, at: now });
    const kept = seen.findIndex((s) => now - s.at < REMEMBERED_FOR_MS);
    if (kept > 0) seen.splice(0, kept);
    pending.push(item);
  };
  setHandler(enqueueSignal, accept, {
    description: 'Add an upgrade request; a requestId seen before is ignored',
  });
  setHandler(
    deliverSignal,
    (merges: unknown) => (Array.isArray(merges) ? merges : [merges]).forEach(accept),
    {
      description:
        'Add a merge the webhook recorded; the queue reads what it changed (retried through an outage) when its turn comes',
    },
  );
  setHandler(
    queueQuery,
    () => ({ ...(running ? { running } : {}), ...(reading ? { reading } : {}), pending, done, recent }),
    { description: 'The running request, the waiting ones, how many are done, the last outcomes' },
  );

  for (;;) {
    const next = pending.shift();
    if (!next) {
      const woke = await condition(() => pending.length > 0, IDLE_BEFORE_RENEWAL, {
        summary: `idle: renews itself after ${IDLE_BEFORE_RENEWAL} without requests`,
      });
      if (!woke || workflowInfo().continueAsNewSuggested) break;
      continue;
    }
    running = next;
    let outcome: string;
    if (isDeliveredMerge(next)) {
      const merge = next;
      if (merge.delivery.event === 'push') {
        reading = 'waiting briefly for the pull request of this merge (its labels)';
        await condition(() => merge.delivery.event === 'pull_request', PULL_REQUEST_GRACE, {
          summary: 'wait briefly for the pull request of this push (its labels)',
        });
      }
      const { repository, after } = merge.delivery;
      reading = `reading ${repository} at ${after.slice(0, 12)} (retried until the repository answers)`;
      const read = await readDeliveredMerge(cluster, merge);
      reading = undefined;
      outcome = 'request' in read ? await runOne(cluster, read.request) : read.outcome;
    } else {
      outcome = await runOne(cluster, next);
    }
    remember({ requestId: next.requestId, outcome });
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
  try {
    // A run left behind by a terminated queue of this cluster ends first: two runs never share a cluster.
    const { waitedFor } = await guard.awaitNoRunningUpgrade({
      cluster,
      taskQueue: workflowInfo().taskQueue,
    });
    if (waitedFor.length) log.warn('waited for an upgrade this queue did not start', { waitedFor });
    const result = await executeChild(clusterUpgrade, {
      workflowId,
      args: [request],
      // An operator who terminates the queue must not orphan a half-upgraded node: the run goes on,
      // and the next queue of this cluster waits for it (above).
      parentClosePolicy: ParentClosePolicy.ABANDON,
      workflowTaskTimeout: CLUSTER_WORKFLOW_TASK_TIMEOUT_MS,
      staticSummary: `Upgrade ${cluster}: Talos ${request.talos.from ? `${request.talos.from} → ` : 'to '}${request.talos.to}${request.kubernetes ? `, Kubernetes → ${request.kubernetes.to}` : ''}`,
      staticDetails: [
        `**Cluster** ${cluster} · **request** ${request.requestId}`,
        `**Asked by** ${request.source}`,
        request.strategy
          ? `**Strategy** ${request.strategy} (from the pull request's labels)`
          : '**Strategy** per hop, from the policy',
      ].join('\n\n'),
      // The same request never runs twice, whatever the queue remembers.
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      // Visible as this cluster's run from its first moment, for the wait above.
      searchAttributes: { TalosCluster: [cluster] },
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
