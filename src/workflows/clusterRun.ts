import { log, setCurrentDetails, setHandler, upsertSearchAttributes } from '@temporalio/workflow';
import { checkInput, operatorAnswerSchema, type OperatorAnswer } from '../domain/index.js';
import type { NotificationEvent } from '../activities/notify.js';
import { notifications } from './activityOptions.js';
import { recordRun } from './metrics.js';
import { answerRefusal, registerOperatorUpdates } from './operatorUpdates.js';
import { answeredBy, renderRunDetails } from './runDetails.js';
import {
  approveSignal,
  overrideWindowSignal,
  pauseSignal,
  progressQuery,
  rejectSignal,
  resumeSignal,
} from './signals.js';
import {
  canaryTakesAnswers,
  type ClusterProgress,
  type ClusterUpgradeResult,
  type PlannedHop,
  type UpgradeRequest,
} from './types.js';

/** An operator's answer to the canary: go on now, or stop after it. */
type CanaryAnswer = { by: string; identity?: string; comment?: string; reason?: string; stop: boolean };

/** A run that ends early on purpose (a failed node, failed validation), with its outcome and reason. */
export class RunStopped extends Error {
  constructor(
    readonly outcome: ClusterUpgradeResult['outcome'],
    readonly reason: string,
  ) {
    super(reason);
  }
}

/** What every part of a cluster run shares: the request, its progress, operators' decisions, reporting. */
export interface ClusterRun {
  request: UpgradeRequest;
  started: number;
  progress: ClusterProgress;
  decisions: {
    approval?: OperatorAnswer;
    rejection?: OperatorAnswer;
    /** The answer to the canary's hold: go on now, or stop. */
    canary?: CanaryAnswer;
    /** An operator let this run start nodes outside the maintenance windows. */
    windowOverride?: OperatorAnswer;
  };
  /** The wait for a maintenance window in progress, shared by the lanes of workers. */
  windowWait?: Promise<void> | undefined;
  /** Versions and hops as far as they are known: filled in by planning. */
  talos: { from: string; to: string };
  hops: PlannedHop[];
  /** Per-node notifications in flight; the run waits for them only before it ends. */
  background: Array<Promise<unknown>>;
  phase(name: string): void;
  /** Shows the run's current details in the Web UI anew, with `note` (what it waits for) if given. */
  details(note?: string): void;
  /** Sends a notification; a notification never fails the run. */
  notify(event: NotificationEvent): Promise<unknown>;
  /** The run's result, once, at its end (it also counts the run in the metrics). */
  result(outcome: ClusterUpgradeResult['outcome'], reason?: string, snapshot?: string): ClusterUpgradeResult;
}

/** The run's state and its handlers (progress query; approve, reject, pause, resume signals). */
export function startClusterRun(request: UpgradeRequest, started: number): ClusterRun {
  const progress: ClusterProgress = {
    phase: 'Planning',
    paused: false,
    current: [],
    inFlight: [],
    nodes: [],
    totalNodeUpgrades: 0,
  };
  let note = '';
  const run: ClusterRun = {
    request,
    started,
    progress,
    decisions: {},
    talos: { from: request.talos.from ?? 'unknown', to: request.talos.to },
    hops: [],
    background: [],
    phase: (name) => {
      progress.phase = name;
      upsertSearchAttributes({ UpgradePhase: [name] });
      run.details();
    },
    details: (text) => {
      if (text !== undefined) note = text;
      setCurrentDetails(renderRunDetails(progress, request.cluster, note));
    },
    notify: (event) =>
      notifications
        .notify({ cluster: request.cluster, event: withDecision(event, run) })
        .catch(() => undefined),
    result: (outcome, reason, snapshot) => {
      recordRun(request.cluster, outcome, Date.now() - started);
      return {
        cluster: request.cluster,
        requestId: request.requestId,
        outcome,
        ...(reason ? { reason } : {}),
        talos: run.talos,
        hops: run.hops,
        ...(run.decisions.approval ? { approvedBy: run.decisions.approval } : {}),
        nodes: progress.nodes,
        ...(snapshot ? { etcdSnapshot: snapshot } : {}),
        ...(progress.planNote ? { planNote: progress.planNote } : {}),
        ...(progress.rebuildPlans ? { rebuildPlans: progress.rebuildPlans } : {}),
        durationMs: Date.now() - started,
      };
    },
  };
  setHandler(progressQuery, () => progress, {
    description: 'Where the run is: phase, hop, nodes in flight and done',
  });
  // The signals of the Web UI's "Send a Signal" take any JSON: one that names nobody is logged and ignored.
  // An approve or reject signal is held to what the Update's validator holds it to (the run waits for an
  // answer, from one of policy.approval.approvers): one sent before planning read the list, or to a run
  // that waits for none, is logged and ignored, never kept for later.
  const answer =
    (name: string, apply: (a: OperatorAnswer) => void, approval = false) =>
    (arg: unknown) => {
      const checked = checkInput(operatorAnswerSchema, arg);
      const refused = checked.ok && approval && answerRefusal(run, checked.value.identity);
      if (!checked.ok)
        log.warn(`ignored a ${name} signal that is not a valid answer`, { reason: checked.reason });
      else if (refused) log.warn(`ignored a ${name} signal: ${refused}`);
      else apply(checked.value);
    };
  // Only a first answer gets here (answerRefusal refuses a second, the canary's too): a later signal
  // from another operator must not turn an approve the first was told of into a reject.
  const canaryAnswer = (answer: CanaryAnswer) => void (run.decisions.canary = answer);
  setHandler(
    approveSignal,
    answer(
      'approve',
      (by) =>
        canaryTakesAnswers(progress)
          ? canaryAnswer({ ...by, stop: false })
          : void (run.decisions.approval = by),
      true,
    ),
    {
      description: 'Approve the upgrade: {"by": "name", "identity": "user@host", "comment": "..."}',
    },
  );
  setHandler(
    rejectSignal,
    answer(
      'reject',
      (by) =>
        canaryTakesAnswers(progress)
          ? canaryAnswer({ ...by, stop: true })
          : void (run.decisions.rejection = by),
      true,
    ),
    {
      description:
        'Reject the upgrade: {"by": "name", "identity": "user@host", "reason": "..."}; nothing is touched',
    },
  );
  setHandler(pauseSignal, () => void ((progress.paused = true), run.details()), {
    description: 'Hold the run before the next node',
  });
  setHandler(resumeSignal, () => void ((progress.paused = false), run.details()), {
    description: 'Carry on after a pause',
  });
  setHandler(
    overrideWindowSignal,
    answer('overrideWindow', (by) => void (run.decisions.windowOverride = by)),
    {
      description:
        'Start nodes outside the maintenance windows, for this run only: {"by": "name", "reason": "..."}',
    },
  );
  registerOperatorUpdates(run);
  return run;
}

/**
 * A run's last notification says who answered it (the name typed, and the identity it came with): its
 * approval or rejection as the run took it, and the canary's answer.
 */
function withDecision(event: NotificationEvent, run: ClusterRun): NotificationEvent {
  if (event.kind !== 'complete') return event;
  const { approval } = run.progress;
  const { canary } = run.decisions;
  const decided = [
    (approval?.state === 'approved' || approval?.state === 'rejected') && approval.by
      ? `${approval.state} by ${answeredBy(approval)}`
      : '',
    canary ? `canary ${canary.stop ? 'rejected' : 'approved'} by ${answeredBy(canary)}` : '',
  ].filter(Boolean);
  return decided.length ? { ...event, decidedBy: decided.join('; ') } : event;
}
