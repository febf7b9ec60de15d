import type { Client } from '@temporalio/client';
import type { DeliveredMerge, UpgradeRequest } from '../workflows/types.js';
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
 * Records merges the webhook received in their cluster's queue by one signal-with-start — durable once
 * this returns, before anyone has read the repository. The queue dedupes by the merge commit, so
 * GitHub's redeliveries and the push of the same merge add nothing.
 */
export async function recordDeliveries(
  client: Client,
  taskQueue: string,
  cluster: string,
  merges: DeliveredMerge[],
): Promise<{ queueId: string }> {
  const queueId = queueWorkflowId(cluster);
  await client.workflow.signalWithStart<typeof upgradeQueue, [DeliveredMerge[]]>('upgradeQueue', {
    workflowId: queueId,
    taskQueue,
    args: [{ cluster, pending: [], seen: [], done: 0 }],
    signal: 'deliver',
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
