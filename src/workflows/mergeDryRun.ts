import { ApplicationFailure, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { checkInput, FAILURE, mergeDryRunSchema } from '../domain/index.js';
import { clusterUpgrade } from './clusterUpgrade.js';
import { requestOfReading } from './deliveredMerge.js';
import { describeFailure, failureType, wasCancelled } from './failures.js';
import { progressQuery } from './signals.js';
import type { ClusterUpgradeResult } from './types.js';

/** A person waits on the answer: a repository outage is retried for a few minutes, not for hours. */
const read = proxyActivities<Activities>({
  startToCloseTimeout: '2m',
  scheduleToCloseTimeout: '5m',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '30s' },
});

/**
 * `start --merge <commit> --dry-run`: what that merge (or a pull request's head before it is merged)
 * would do, as the queue would read it — the versions file at the commit against its first parent —
 * then the same plan and pre-flight as `start --dry-run`, nothing touched. A commit that moves no
 * version ends `nothing-to-do` with the reason. The strategy is the policy's (labels are not read).
 */
export async function mergeDryRun(input: {
  cluster: string;
  commit: string;
  source: string;
}): Promise<ClusterUpgradeResult> {
  const started = Date.now();
  const checked = checkInput(mergeDryRunSchema, input);
  if (!checked.ok)
    throw ApplicationFailure.nonRetryable(
      `not a valid dry run of a merge: ${checked.reason}`,
      FAILURE.InvalidRequest,
    );
  // Answered from the start: `status` may ask while the merge is still being read (the run's own
  // handler takes over once it has planned).
  setHandler(progressQuery, () => ({
    phase: 'ReadingMerge',
    paused: false,
    current: [],
    inFlight: [],
    nodes: [],
    totalNodeUpgrades: 0,
  }));
  let reading: Awaited<ReturnType<Activities['readCommitChange']>>;
  try {
    reading = await read.readCommitChange({ cluster: input.cluster, commit: input.commit });
  } catch (error) {
    if (wasCancelled(error)) throw error;
    // Its own type: a repository that did not answer is not a bad request.
    throw ApplicationFailure.nonRetryable(
      `dry run of ${input.commit} on ${input.cluster}: ${describeFailure(error)}`,
      failureType(error) ?? FAILURE.InvalidRequest,
    );
  }
  const requestId = workflowInfo().workflowId;
  if (reading.kind === 'nothing')
    return {
      cluster: input.cluster,
      requestId,
      outcome: 'nothing-to-do',
      reason: `${reading.commit.slice(0, 12)} moves no version: ${reading.reason}`,
      talos: { from: '', to: '' },
      hops: [],
      nodes: [],
      durationMs: Date.now() - started,
    };
  const source = `${input.source}, of ${reading.repository}@${reading.commit.slice(0, 12)}`;
  // The run's own code in this workflow: its plan, pre-flight and result, as a dry run answers them.
  return clusterUpgrade({
    ...requestOfReading(reading, { requestId, cluster: input.cluster, source, commit: reading.commit }),
    dryRun: true,
  });
}
