import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities, PollResult } from '../activities/index.js';

/**
 * One poll may retry through a short outage; a longer one fails this run, and the Schedule's next run
 * starts again from the last poll that succeeded (its result), so no merge is skipped meanwhile.
 */
const poll = proxyActivities<Activities>({
  startToCloseTimeout: '3m',
  scheduleToCloseTimeout: '10m',
  heartbeatTimeout: '1m',
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '1m' },
});

/**
 * The action of a cluster's poll Schedule (repository.poll): reads its default branch from where the
 * last successful poll left it (`lastResult`, which a Schedule hands each run) and records the merges
 * that changed the versions file in the cluster's queue.
 */
export async function pollRepository(input: { cluster: string }): Promise<PollResult> {
  const last = workflowInfo().lastResult as PollResult | undefined;
  return poll.pollMerges({ cluster: input.cluster, ...(last?.head ? { since: last.head } : {}) });
}
