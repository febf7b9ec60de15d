import { ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import { runWorkflowId } from '../../src/starter/enqueue.js';
import { pollScheduleId } from '../../src/worker/pollSchedules.js';
import type { clusterUpgrade } from '../../src/workflows/index.js';
import type { PollState } from '../../src/workflows/pollRepository.js';
import { eventually } from '../lab/labHarness.js';

/**
 * One run of a cluster's poll Schedule, now, as its interval would run it (with the Schedule's own
 * overlap policy, so the Schedule tracks it and hands its result to the next), and what it found.
 * Tests pause the Schedule first, so that only their triggers run it.
 */
export async function pollNow(
  client: Client,
  cluster: string,
): Promise<{ workflowId: string; runId: string; found: PollState }> {
  const schedule = client.schedule.getHandle(pollScheduleId(cluster));
  // A trigger under SKIP while an earlier poll still runs is skipped: wait for it to end first.
  const idle = await eventually(
    'the poll Schedule to have no poll running',
    async () => {
      const description = await schedule.describe();
      return description.info.runningActions.length === 0 ? description : undefined;
    },
    60_000,
  );
  // Counted by actions taken: the Schedule keeps only its last 10 in recentActions.
  const before = idle.info.numActionsTaken;
  await schedule.trigger(ScheduleOverlapPolicy.SKIP);
  const action = await eventually(
    'the poll Schedule to start its workflow',
    async () => {
      const { info } = await schedule.describe();
      return info.numActionsTaken > before ? info.recentActions.at(-1) : undefined;
    },
    60_000,
  );
  const { workflowId, firstExecutionRunId: runId } = action.action.workflow;
  const found = await client.workflow.getHandle<() => Promise<PollState>>(workflowId, runId).result();
  return { workflowId, runId, found };
}

/** The result of a workflow started elsewhere (by the queue, a Schedule), once it exists. */
export async function resultOf(client: Client, workflowId: string) {
  const handle = client.workflow.getHandle<typeof clusterUpgrade>(workflowId);
  await eventually(`${workflowId} to start`, () => handle.describe().catch(() => undefined), 120_000);
  return handle.result();
}

/** The result of the run the queue starts for a merge (`talos-upgrade:<cluster>:<sha>`). */
export const runOfMerge = (client: Client, cluster: string, merge: string) =>
  resultOf(client, runWorkflowId(cluster, merge));
