import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { DeliveredMerge, UpgradeRequest } from '../workflows/types.js';
import { deliverSignal } from '../workflows/signals.js';
import type { upgradeQueue } from '../workflows/upgradeQueue.js';
import { deliveryRecorder } from './webhook/deliveryRecorder.js';

export const queueWorkflowId = (cluster: string) => `talos-upgrade-queue:${cluster}`;
export const runWorkflowId = (cluster: string, requestId: string) => `talos-upgrade:${cluster}:${requestId}`;

/**
 * Hands a request to its cluster's queue by signal-with-start: the queue is started when it is not
 * running, and a requestId it has seen (a webhook redelivery) is ignored there, so this is safe to
 * call any number of times. Returns the ids of the queue and of the run the request will become.
 */
export async function enqueueUpgrade(
  client: Client,
  taskQueue: string,
  request: UpgradeRequest,
): Promise<{ queueId: string; runId: string }> {
  const queueId = queueWorkflowId(request.cluster);
  await client.workflow.signalWithStart<typeof upgradeQueue, [UpgradeRequest]>('upgradeQueue', {
    workflowId: queueId,
    taskQueue,
    args: [{ cluster: request.cluster, pending: [], seen: [], done: 0 }],
    signal: 'enqueue',
    signalArgs: [request],
    searchAttributes: { TalosCluster: [request.cluster] },
  });
  return { queueId, runId: runWorkflowId(request.cluster, request.requestId) };
}

/**
 * Records merges the webhook received in their cluster's queue — durable once this returns, before
 * anyone has read the repository. The queue dedupes by the merge commit, so GitHub's redeliveries and
 * the push of the same merge add nothing.
 *
 * A plain signal first: the queue runs nearly always, and the server does less for a signal than for
 * a signal-with-start (no start request to validate, no search attributes), which is a fifth of the
 * dev server's CPU per delivery under a burst (bench/HISTORY.md, Webhook). A queue that is not running
 * (never started, terminated, or ended) refuses the signal as not found, and signal-with-start starts a
 * new one with the merges, so no merge depends on the queue having been there.
 */
export async function recordDeliveries(
  client: Client,
  taskQueue: string,
  cluster: string,
  merges: DeliveredMerge[],
): Promise<{ queueId: string }> {
  const queueId = queueWorkflowId(cluster);
  try {
    await client.workflow.getHandle(queueId).signal(deliverSignal, merges);
    return { queueId };
  } catch (error) {
    if (!(error instanceof WorkflowNotFoundError)) throw error;
  }
  await client.workflow.signalWithStart<typeof upgradeQueue, [DeliveredMerge[]]>('upgradeQueue', {
    workflowId: queueId,
    taskQueue,
    args: [{ cluster, pending: [], seen: [], done: 0 }],
    signal: deliverSignal,
    signalArgs: [merges],
    searchAttributes: { TalosCluster: [cluster] },
  });
  return { queueId };
}

/** The webhook's recorder: deliveries that arrive while one is being recorded go together (group commit). */
export function deliveryRecorderFor(client: Client, taskQueue: string) {
  return deliveryRecorder(
    (cluster, merges) => recordDeliveries(client, taskQueue, cluster, merges),
    (merge) => runWorkflowId(merge.cluster, merge.requestId),
  );
}
