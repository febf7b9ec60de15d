import type { Client } from '@temporalio/client';
import type { upgradeQueue } from '../workflows/upgradeQueue.js';
import type { UpgradeRequest } from '../workflows/types.js';

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
