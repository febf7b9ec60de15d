import type { UpdateDefinition } from '@temporalio/common';
import { setHandler } from '@temporalio/workflow';
import { approverRefusal, checkInput, operatorAnswerSchema } from '../domain/index.js';
import { answeredBy } from './runDetails.js';
import type { ClusterRun } from './clusterRun.js';
import { canaryTakesAnswers } from './types.js';
import {
  approveUpdate,
  overrideWindowUpdate,
  pauseUpdate,
  rejectUpdate,
  resumeUpdate,
  type RunState,
} from './signals.js';

const state = ({ progress }: ClusterRun): RunState => ({
  phase: progress.phase,
  paused: progress.paused,
  ...(progress.approval ? { approval: progress.approval } : {}),
  ...(progress.window ? { window: progress.window } : {}),
  ...(progress.canary ? { canary: progress.canary } : {}),
});

/** What a refusal reads of a run: its progress and the operators' decisions so far. */
type RunDecisions = Pick<ClusterRun, 'progress' | 'decisions'>;

/** Why an override of the maintenance windows does not apply, or undefined when it does. */
export function windowOverrideRefusal({ progress, decisions }: RunDecisions): string | undefined {
  if (decisions.windowOverride) return `already overridden by ${answeredBy(decisions.windowOverride)}`;
  // Before planning the windows are not known yet: the override is kept for when they are.
  if (progress.phase !== 'Planning' && !progress.maintenanceWindows?.length)
    return "this cluster's policy has no maintenance windows: nodes may start at any time";
  return undefined;
}

/** Why an approval decision does not apply now, or undefined when the run waits for one. */
export function approvalRefusal({ progress, decisions }: RunDecisions): string | undefined {
  // The canary takes the same commands, while it upgrades and holds: approve goes on without (or
  // ending) the hold, reject stops the run once the canary is done.
  if (canaryTakesAnswers(progress))
    return decisions.canary ? `the canary is already answered by ${answeredBy(decisions.canary)}` : undefined;
  if (decisions.approval) return `already approved by ${answeredBy(decisions.approval)}`;
  if (decisions.rejection) return `already rejected by ${answeredBy(decisions.rejection)}`;
  if (progress.approval?.state !== 'waiting')
    return decisions.canary
      ? `the canary is already answered by ${answeredBy(decisions.canary)}`
      : `this run waits for no approval (phase ${progress.phase}; only a hop that policy.approval names waits)`;
  return undefined;
}

/** Why `identity`'s approve or reject does not apply now (see approvalRefusal), or it is not an approver. */
export function answerRefusal(run: RunDecisions, identity: string | undefined): string | undefined {
  return approvalRefusal(run) ?? approverRefusal(run.progress.approvers, identity);
}

/**
 * One operator command as an Update: the validator refuses with `refusal`'s reason (nothing changes,
 * nothing enters the history), the handler applies it and answers the run's new state.
 */
function operatorUpdate<A>(
  run: ClusterRun,
  update: UpdateDefinition<RunState, [A]>,
  command: {
    refusal: (arg: A) => string | undefined;
    apply: (arg: A) => void;
    description: string;
    /** Whether the argument must name who acts (approve, reject, overrideWindow). */
    answer?: boolean;
  },
): void {
  setHandler<RunState, [A], UpdateDefinition<RunState, [A]>>(
    update,
    (arg: A) => {
      command.apply(arg);
      return state(run);
    },
    {
      validator: (arg: A) => {
        const checked = command.answer ? checkInput(operatorAnswerSchema, arg) : { ok: true as const };
        if (!checked.ok) throw new Error(`not a valid answer: ${checked.reason}`);
        const reason = command.refusal(arg);
        if (reason) throw new Error(reason);
      },
      description: command.description,
    },
  );
}

/** approve, reject, pause and resume as Workflow Updates: refused with the reason, or the new state. */
export function registerOperatorUpdates(run: ClusterRun): void {
  const { progress, decisions } = run;
  operatorUpdate(run, approveUpdate, {
    refusal: (answer) => answerRefusal(run, answer.identity),
    apply: (decision) => {
      if (canaryTakesAnswers(progress)) decisions.canary = { ...decision, stop: false };
      else {
        decisions.approval = decision;
        progress.approval = { state: 'approved', ...decision };
      }
    },
    description: 'Approve the upgrade (refused when it waits for none)',
    answer: true,
  });
  operatorUpdate(run, rejectUpdate, {
    refusal: (answer) => answerRefusal(run, answer.identity),
    apply: (decision) => {
      if (canaryTakesAnswers(progress)) decisions.canary = { ...decision, stop: true };
      else {
        decisions.rejection = decision;
        progress.approval = {
          state: 'rejected',
          by: decision.by,
          ...(decision.identity ? { identity: decision.identity } : {}),
        };
      }
    },
    description: 'Reject the upgrade (refused when it waits for no approval)',
    answer: true,
  });
  operatorUpdate(run, pauseUpdate, {
    refusal: () => (progress.paused ? 'already paused' : undefined),
    apply: () => void (progress.paused = true),
    description: 'Hold the run before the next node',
  });
  operatorUpdate(run, resumeUpdate, {
    refusal: () => (progress.paused ? undefined : 'not paused'),
    apply: () => void (progress.paused = false),
    description: 'Carry on after a pause',
  });
  operatorUpdate(run, overrideWindowUpdate, {
    refusal: () => windowOverrideRefusal(run),
    apply: (decision) => {
      decisions.windowOverride = decision;
      if (progress.maintenanceWindows)
        progress.window = {
          state: 'overridden',
          windows: progress.maintenanceWindows,
          by: decision.by,
          ...(decision.identity ? { identity: decision.identity } : {}),
        };
    },
    description:
      'Start nodes outside the maintenance windows, for this run only (refused when there are none)',
    answer: true,
  });
}
