import { condition, workflowInfo } from '@temporalio/workflow';
import type { ClusterDescription } from '../activities/cluster.js';
import { RunStopped, type ClusterRun } from './clusterRun.js';
import { wasCancelled } from './failures.js';
import { answeredBy, humanDuration } from './runDetails.js';
import { canaryTakesAnswers } from './types.js';

/** The steps of the hop the trial uses: the canary's own upgrade, and the pending marks on the other nodes. */
export interface CanarySteps {
  upgrade: () => Promise<void>;
  /** Takes the pending mark off the nodes not yet upgraded, for the hold. */
  unmarkOthers: () => Promise<void>;
  /** Puts it back when the run goes on. */
  markOthers: () => Promise<void>;
}

/**
 * policy.canary: the trial worker is upgraded, then the run holds for the policy's time. An operator's
 * `approve` goes on at once; `reject` stops the run there (the canary stays upgraded, no other node is
 * touched); the timer passing goes on, as an unattended merge would. Pause still holds after it.
 * During the hold the other nodes carry no pending mark: for hours it would steer every new pod of
 * the cluster to the canary.
 */
export async function trialOnCanary(
  run: ClusterRun,
  cluster: ClusterDescription,
  node: string,
  to: string,
  steps: CanarySteps,
): Promise<void> {
  const { progress, decisions } = run;
  run.phase('UpgradingCanary');
  progress.canary = { node, state: 'upgrading' };
  try {
    await steps.upgrade();
    await holdAfterCanary(run, cluster, node, to, steps);
  } catch (error) {
    // A trial that ended without an answer says how, rather than staying "holding" for good.
    if (canaryTakesAnswers(progress))
      progress.canary = { node, state: wasCancelled(error) ? 'cancelled' : 'failed' };
    throw error;
  }
  const answer = decisions.canary;
  if (answer?.stop)
    throw new RunStopped(
      'rejected',
      `rejected after the canary ${node} by ${answeredBy(answer)}${answer.reason ? `: ${answer.reason}` : ''}; no other node was touched`,
    );
}

async function holdAfterCanary(
  run: ClusterRun,
  cluster: ClusterDescription,
  node: string,
  to: string,
  steps: CanarySteps,
): Promise<void> {
  const holdMs = cluster.canary?.holdMs ?? 0;
  const { progress, decisions } = run;
  // Read through a function: an answer arrives while this code awaits.
  const answerNow = () => decisions.canary;
  run.phase('CanaryHold');
  // Answered while it upgraded: no hold, no notification asking for an answer already given.
  if (decisions.canary === undefined) {
    await steps.unmarkOthers();
    await run.notify({
      kind: 'canary',
      node,
      to,
      holdMinutes: Math.round(holdMs / 60_000),
      workflowId: workflowInfo().workflowId,
    });
    // Said once the others are unmarked and the operators told: what `holding` promises is true.
    progress.canary = { node, state: 'holding' };
    run.details(
      `the canary ${node} runs ${to}: approve to go on now, reject to stop; goes on by itself after ${humanDuration(holdMs)}`,
    );
    await condition(() => decisions.canary !== undefined, holdMs, {
      summary: `canary ${node}: wait for approve or reject (goes on after ${humanDuration(holdMs)})`,
    });
    if (!answerNow()?.stop) await steps.markOthers();
  }
  const answer = answerNow();
  progress.canary = {
    node,
    state: answer ? (answer.stop ? 'rejected' : 'approved') : 'held',
    ...(answer ? { by: answer.by } : {}),
    ...(answer?.identity ? { identity: answer.identity } : {}),
  };
  run.details('');
}
