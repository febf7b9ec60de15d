import { WorkflowFailedError, type Client } from '@temporalio/client';
import type { Strategy } from '../../src/domain/index.js';
import { CLUSTER_WORKFLOW_TASK_TIMEOUT_MS } from '../../src/workflows/clusterUpgrade.js';
import { clusterUpgrade } from '../../src/workflows/index.js';
import type { ClusterUpgradeResult } from '../../src/workflows/types.js';

/** Starts one cluster upgrade on a task queue; `result` resolves with the run's result, failed or not. */
export async function startUpgrade(
  client: Client,
  options: { taskQueue: string; cluster: string; to: string; strategy?: Strategy; tag: string },
): Promise<{ workflowId: string; result: Promise<ClusterUpgradeResult> }> {
  const requestId = `${options.tag}-${Date.now().toString(36)}`;
  const workflowId = `talos-upgrade:${options.cluster}:${requestId}`;
  const handle = await client.workflow.start(clusterUpgrade, {
    taskQueue: options.taskQueue,
    workflowId,
    // As the queue starts a cluster run.
    workflowTaskTimeout: CLUSTER_WORKFLOW_TASK_TIMEOUT_MS,
    args: [
      {
        requestId,
        cluster: options.cluster,
        talos: { to: options.to },
        ...(options.strategy ? { strategy: options.strategy } : {}),
        source: `bench/${options.tag}`,
      },
    ],
  });
  // A failed run carries its result in the UpgradeFailed details.
  const result = handle.result().catch((error: unknown) => {
    const details =
      error instanceof WorkflowFailedError ? (error.cause as { details?: unknown[] })?.details : [];
    const carried = details?.[0] as ClusterUpgradeResult | undefined;
    if (carried) return carried;
    throw error;
  });
  return { workflowId, result };
}
