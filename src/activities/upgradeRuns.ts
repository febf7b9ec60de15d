import { Context } from '@temporalio/activity';
import { queryValue } from '../domain/index.js';
import { heartbeat, sleep } from './activityContext.js';

/**
 * What the activities know of the product's own runs, asked of Temporal through the worker's client:
 * the queue's guard that one cluster never has two upgrades running at once.
 */
export function upgradeRunActivities(deps: { pollIntervalMs?: number }) {
  /**
   * Waits, heartbeating, until no clusterUpgrade of this cluster runs on this task queue: a queue
   * started after an earlier one was terminated or reset finds the run that one left behind (its
   * children are abandoned on purpose) and lets it finish before it starts the next.
   */
  async function awaitNoRunningUpgrade(input: {
    cluster: string;
    taskQueue: string;
  }): Promise<{ waitedFor: string[] }> {
    const { client } = Context.current();
    const query = [
      `WorkflowType = 'clusterUpgrade'`,
      `TalosCluster = ${queryValue(input.cluster)}`,
      `TaskQueue = ${queryValue(input.taskQueue)}`,
      `ExecutionStatus = 'Running'`,
    ].join(' AND ');
    const waitedFor = new Set<string>();
    for (;;) {
      const running: string[] = [];
      for await (const run of client.workflow.list({ query })) running.push(run.workflowId);
      if (running.length === 0) return { waitedFor: [...waitedFor] };
      running.forEach((id) => waitedFor.add(id));
      heartbeat({ cluster: input.cluster, waitingFor: running });
      await sleep(Math.max(deps.pollIntervalMs ?? 5000, 1000));
    }
  }

  /**
   * The status of a run (RUNNING, TERMINATED, TIMED_OUT, …): a node run asks after its cancel whether
   * its cluster run is still there to report it, or was terminated and can no longer say anything.
   */
  async function runStatus(input: { workflowId: string; runId?: string }): Promise<string> {
    const { client } = Context.current();
    return (await client.workflow.getHandle(input.workflowId, input.runId).describe()).status.name;
  }

  return { awaitNoRunningUpgrade, runStatus };
}
