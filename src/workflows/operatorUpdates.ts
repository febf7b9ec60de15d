import { setHandler } from '@temporalio/workflow';
import type { ClusterRun } from './clusterRun.js';
import { approveUpdate, pauseUpdate, rejectUpdate, resumeUpdate, type RunState } from './signals.js';

const state = ({ progress }: ClusterRun): RunState => ({
  phase: progress.phase,
  paused: progress.paused,
  ...(progress.approval ? { approval: progress.approval } : {}),
});

/** Why an approval decision does not apply now, or undefined when the run waits for one. */
function approvalRefusal({ progress, decisions }: ClusterRun): string | undefined {
  if (decisions.approval) return `already approved by ${decisions.approval.by}`;
  if (decisions.rejection) return `already rejected by ${decisions.rejection.by}`;
  if (progress.approval?.state !== 'waiting')
    return `this run waits for no approval (phase ${progress.phase}; only a hop that policy.approval names waits)`;
  return undefined;
}

function refuseIf(reason: string | undefined): void {
  if (reason) throw new Error(reason);
}

/** approve, reject, pause and resume as Workflow Updates: refused with the reason, or the new state. */
export function registerOperatorUpdates(run: ClusterRun): void {
  const { progress, decisions } = run;
  setHandler(
    approveUpdate,
    (decision) => {
      decisions.approval = decision;
      progress.approval = { state: 'approved', ...decision };
      return state(run);
    },
    {
      validator: (_decision) => refuseIf(approvalRefusal(run)),
      description: 'Approve the upgrade (refused when it waits for none)',
    },
  );
  setHandler(
    rejectUpdate,
    (decision) => {
      decisions.rejection = decision;
      progress.approval = { state: 'rejected', by: decision.by };
      return state(run);
    },
    {
      validator: (_decision) => refuseIf(approvalRefusal(run)),
      description: 'Reject the upgrade (refused when it waits for no approval)',
    },
  );
  setHandler(
    pauseUpdate,
    (_by) => {
      progress.paused = true;
      return state(run);
    },
    {
      validator: (_by) => refuseIf(progress.paused ? 'already paused' : undefined),
      description: 'Hold the run before the next node',
    },
  );
  setHandler(
    resumeUpdate,
    (_by) => {
      progress.paused = false;
      return state(run);
    },
    {
      validator: (_by) => refuseIf(progress.paused ? undefined : 'not paused'),
      description: 'Carry on after a pause',
    },
  );
}
