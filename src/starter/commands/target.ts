import type { Client } from '@temporalio/client';
import { queryValue } from '../../domain/index.js';
import { UserError } from '../cliErrors.js';

/**
 * An operator names a run by workflow id, or by cluster for "its upgrade that is running now".
 * Workflow ids contain ':' (talos-upgrade:<cluster>:<request>); cluster names cannot.
 */
export async function resolveRun(client: Client, target: string): Promise<string> {
  if (target.includes(':')) return target;
  const running: Array<{ id: string; start: Date }> = [];
  for await (const run of client.workflow.list({
    query: `WorkflowType = 'clusterUpgrade' AND TalosCluster = ${queryValue(target)} AND ExecutionStatus = 'Running'`,
  }))
    running.push({ id: run.workflowId, start: run.startTime });
  running.sort((a, b) => b.start.getTime() - a.start.getTime());
  if (!running[0])
    throw new UserError(
      `no upgrade of cluster ${target} is running (talos-upgrade list shows recent runs; pass a workflow id for another)`,
    );
  return running[0].id;
}
