import { condition, workflowInfo } from '@temporalio/workflow';
import type { ClusterDescription } from '../activities/cluster.js';
import { RunStopped, type ClusterRun } from './clusterRun.js';
import { humanDuration } from './runDetails.js';

/**
 * policy.canary: after the trial worker is upgraded, the run holds for the policy's time. An operator's
 * `approve` goes on at once; `reject` stops the run there (the canary stays upgraded, no other node is
 * touched); the timer passing goes on, as an unattended merge would. Pause still holds after it.
 */
export async function holdAfterCanary(
  run: ClusterRun,
  cluster: ClusterDescription,
  node: string,
  to: string,
): Promise<void> {
  const holdMs = cluster.canary?.holdMs ?? 0;
  const { progress, decisions } = run;
  run.phase('CanaryHold');
  progress.canary = { node, state: 'holding' };
  run.details(
    `the canary ${node} runs ${to}: approve to go on now, reject to stop; goes on by itself after ${humanDuration(holdMs)}`,
  );
  await run.notify({
    kind: 'canary',
    node,
    to,
    holdMinutes: Math.round(holdMs / 60_000),
    workflowId: workflowInfo().workflowId,
  });
  await condition(() => decisions.canary !== undefined, holdMs, {
    summary: `canary ${node}: wait for approve or reject (goes on after ${humanDuration(holdMs)})`,
  });
  const answer = decisions.canary;
  progress.canary = {
    node,
    state: answer ? (answer.stop ? 'rejected' : 'approved') : 'held',
    ...(answer ? { by: answer.by } : {}),
  };
  run.details('');
  if (answer?.stop)
    throw new RunStopped(
      'rejected',
      `rejected after the canary ${node} by ${answer.by}${answer.reason ? `: ${answer.reason}` : ''}; no other node was touched`,
    );
}
