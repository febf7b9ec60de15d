import { answeredBy, humanDuration } from './runDetails.js';
import { condition, workflowInfo } from '@temporalio/workflow';
import type { ClusterDescription } from '../activities/cluster.js';
import type { ClusterRun } from './clusterRun.js';
import type { ClusterUpgradeResult } from './types.js';

/**
 * A run that needs approval (a major version) waits for `approve` or `reject`, at most the
 * inventory's approval timeout. Returns the run's result when it ends here (rejected or timed out,
 * nothing touched), undefined when it may go on.
 */
export async function awaitApproval(
  run: ClusterRun,
  cluster: ClusterDescription,
): Promise<ClusterUpgradeResult | undefined> {
  const { progress, decisions, talos } = run;
  run.phase('AwaitingApproval');
  progress.approval = { state: 'waiting' };
  run.details();
  await run.notify({
    kind: 'approval',
    from: talos.from,
    to: talos.to,
    workflowId: workflowInfo().workflowId,
    timeoutHours: Math.round(cluster.timing.approvalTimeoutMs / 3_600_000),
    preFlight: progress.preFlight ?? 'not run',
  });
  const decided = await condition(
    () => decisions.approval !== undefined || decisions.rejection !== undefined,
    cluster.timing.approvalTimeoutMs,
    { summary: `wait for approval (times out in ${humanDuration(cluster.timing.approvalTimeoutMs)})` },
  );
  const { approval, rejection } = decisions;
  if (rejection || !decided) {
    progress.approval = {
      state: rejection ? 'rejected' : 'timed-out',
      ...(rejection ? { by: rejection.by } : {}),
      ...(rejection?.identity ? { identity: rejection.identity } : {}),
    };
    run.phase(rejection ? 'Rejected' : 'ApprovalTimedOut');
    const reason = rejection
      ? `rejected by ${answeredBy(rejection)}${rejection.reason ? `: ${rejection.reason}` : ''}`
      : `no approval within ${Math.round(cluster.timing.approvalTimeoutMs / 60_000)} min`;
    await run.notify({
      kind: 'complete',
      from: talos.from,
      to: talos.to,
      outcome: 'rejected',
      durationMs: Date.now() - run.started,
      upgraded: 0,
      failed: 0,
    });
    return run.result('rejected', `${reason}; nothing was touched`);
  }
  progress.approval = {
    state: 'approved',
    by: approval?.by ?? '',
    ...(approval?.identity ? { identity: approval.identity } : {}),
    ...(approval?.comment ? { comment: approval.comment } : {}),
  };
  run.details();
  return undefined;
}
