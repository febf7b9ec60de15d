import type { Client } from '@temporalio/client';
import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type ScheduleOptions,
} from '@temporalio/client';
import type { Inventory } from '../domain/index.js';

const POLL_PREFIX = 'talos-upgrade-poll:';
export const pollScheduleId = (cluster: string) => `${POLL_PREFIX}${cluster}`;

/** What each cluster's poll Schedule is, or undefined when its inventory does not ask for polling. */
function pollSchedule(cluster: string, inventory: Inventory, taskQueue: string): ScheduleOptions | undefined {
  const every = inventory.repository?.poll;
  if (!every || !inventory.repository) return undefined;
  return {
    scheduleId: pollScheduleId(cluster),
    spec: { intervals: [{ every }] },
    action: {
      type: 'startWorkflow',
      workflowType: 'pollRepository',
      workflowId: pollScheduleId(cluster),
      taskQueue,
      args: [{ cluster }],
      searchAttributes: { TalosCluster: [cluster] },
    },
    // A poll still running (a slow repository) is not doubled; one missed while Temporal was down is
    // not made up several times: the next poll reads everything since the last one that succeeded.
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1m' },
    memo: {
      purpose: `reads ${inventory.repository.github}@${inventory.repository.defaultBranch} for merges`,
    },
  };
}

/** What a worker did to a cluster's poll Schedule; `foreign`: another task queue's, left alone. */
export type PollScheduleChange = 'created' | 'updated' | 'deleted' | 'none' | 'foreign';

/**
 * Makes each cluster's poll Schedule what its inventory says, when a worker starts: created, updated
 * to the inventory's interval, or deleted when the inventory no longer polls — or no
 * longer names the cluster (a Schedule of this task queue for a cluster no inventory of this worker
 * holds would fail every interval). Safe to run from every worker at once (the server keeps one
 * Schedule per id). A Schedule whose workflows go to another task queue is another deployment's on
 * the same namespace: left alone (`foreign`). Returns what it did per cluster.
 */
export async function ensurePollSchedules(
  client: Client,
  clusters: Record<string, { inventory: Inventory }>,
  taskQueue: string,
): Promise<Record<string, PollScheduleChange>> {
  const done: Record<string, PollScheduleChange> = {};
  for (const [cluster, { inventory }] of Object.entries(clusters)) {
    const wanted = pollSchedule(cluster, inventory, taskQueue);
    const handle = client.schedule.getHandle(pollScheduleId(cluster));
    const existing = await handle.describe().catch((error: unknown) => {
      if (error instanceof ScheduleNotFoundError) return undefined;
      throw error;
    });
    // Another deployment's Schedule (its workers poll another task queue) is theirs to keep: a worker
    // changes only what its own task queue runs.
    const foreign =
      existing && (existing.action.type !== 'startWorkflow' || existing.action.taskQueue !== taskQueue);
    if (foreign) {
      done[cluster] = 'foreign';
    } else if (!wanted) {
      if (existing) await handle.delete();
      done[cluster] = existing ? 'deleted' : 'none';
    } else if (!existing) {
      // Another worker starting at the same moment may have made it first: the same Schedule.
      await client.schedule.create(wanted).catch((error: unknown) => {
        if (!(error instanceof ScheduleAlreadyRunning)) throw error;
      });
      done[cluster] = 'created';
    } else {
      await handle.update((previous) => ({
        ...previous,
        spec: wanted.spec,
        action: wanted.action,
        policies: { ...previous.policies, ...wanted.policies },
      }));
      done[cluster] = 'updated';
    }
  }
  for await (const summary of client.schedule.list()) {
    const cluster = summary.scheduleId.slice(POLL_PREFIX.length);
    if (!summary.scheduleId.startsWith(POLL_PREFIX) || cluster in clusters) continue;
    const handle = client.schedule.getHandle(summary.scheduleId);
    const described = await handle.describe().catch(() => undefined);
    // Another deployment's workers (another task queue) may serve that cluster: theirs to keep.
    if (described?.action.type !== 'startWorkflow' || described.action.taskQueue !== taskQueue) continue;
    await handle.delete().catch((error: unknown) => {
      if (!(error instanceof ScheduleNotFoundError)) throw error;
    });
    done[cluster] = 'deleted';
  }
  return done;
}
