import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities, PollResult } from '../activities/index.js';
import { notifications } from './activityOptions.js';
import { describeFailure, wasCancelled } from './failures.js';

/**
 * One poll may retry through a short outage; a longer one ends this run as a failed poll (below), and
 * the Schedule's next run starts again from the last poll that succeeded, so no merge is skipped.
 */
const poll = proxyActivities<Activities>({
  startToCloseTimeout: '3m',
  scheduleToCloseTimeout: '10m',
  heartbeatTimeout: '1m',
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '1m' },
});

/**
 * What a poll hands the next one (a Schedule passes each run the last completed run's result): the
 * head it read up to, and since when polling fails. A failed poll completes too, keeping the head of
 * the last one that succeeded, so that the failure is told once per outage rather than every interval.
 */
export interface PollState extends PollResult {
  /** When the first of the polls failing since the last success failed (epoch ms). */
  failingSince?: number;
  /** Why the last poll failed. */
  error?: string;
}

const tell = (cluster: string, message: string) =>
  notifications.notify({ cluster, event: { kind: 'critical', message } }).catch(() => undefined);

/**
 * The action of a cluster's poll Schedule (repository.poll): reads its default branch from where the
 * last successful poll left it and records the merges that changed the versions file in the cluster's
 * queue. What polling cannot do is told to the cluster's notification targets: a poll failing (once
 * per outage), and a poll that could not list every commit since the last one (a rewritten branch, or
 * more commits than one poll reads) — merges in between may not have become runs.
 */
export async function pollRepository(input: { cluster: string }): Promise<PollState> {
  const last = workflowInfo().lastResult as PollState | undefined;
  const since = last?.head || undefined;
  let result: PollResult;
  try {
    result = await poll.pollMerges({ cluster: input.cluster, ...(since ? { since } : {}) });
  } catch (error) {
    if (wasCancelled(error)) throw error;
    const failingSince = last?.failingSince ?? Date.now();
    const reason = describeFailure(error);
    if (last?.failingSince === undefined)
      await tell(
        input.cluster,
        `polling the repository of ${input.cluster} failed: ${reason}. Merges are not lost while it fails: ` +
          `the next poll that succeeds reads every commit since ${since ? since.slice(0, 12) : 'its first poll'}.`,
      );
    return { head: since ?? '', recorded: [], failingSince, error: reason };
  }
  if (result.note)
    await tell(
      input.cluster,
      `polling ${input.cluster}: ${result.note}. A merge in between that changed the versions may not have ` +
        'become an upgrade: compare the cluster (talos-upgrade status) with the file, and start one with talos-upgrade start.',
    );
  return result;
}
