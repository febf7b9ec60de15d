import { setHandler, upsertSearchAttributes } from '@temporalio/workflow';
import type { NotificationEvent } from '../activities/notify.js';
import { notifications } from './activityOptions.js';
import {
  approveSignal,
  approveUpdate,
  pauseSignal,
  pauseUpdate,
  progressQuery,
  rejectSignal,
  rejectUpdate,
  resumeSignal,
  resumeUpdate,
  type RunState,
} from './signals.js';
import type { ClusterProgress, ClusterUpgradeResult, PlannedHop, UpgradeRequest } from './types.js';

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
    approval?: { by: string; comment?: string };
    rejection?: { by: string; reason?: string };
  };
  /** Versions and hops as far as they are known: filled in by planning. */
  talos: { from: string; to: string };
  hops: PlannedHop[];
  /** Per-node notifications in flight; the run waits for them only before it ends. */
  background: Array<Promise<unknown>>;
  phase(name: string): void;
  /** Sends a notification; a notification never fails the run. */
  notify(event: NotificationEvent): Promise<unknown>;
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
    },
    notify: (event) => notifications.notify({ cluster: request.cluster, event }).catch(() => undefined),
    result: (outcome, reason, snapshot) => ({
      cluster: request.cluster,
      requestId: request.requestId,
      outcome,
      ...(reason ? { reason } : {}),
      talos: run.talos,
      hops: run.hops,
      ...(run.decisions.approval ? { approvedBy: run.decisions.approval } : {}),
      nodes: progress.nodes,
      ...(snapshot ? { etcdSnapshot: snapshot } : {}),
      durationMs: Date.now() - started,
    }),
  };
  setHandler(progressQuery, () => progress, {
    description: 'Where the run is: phase, hop, nodes in flight and done',
  });
  setHandler(approveSignal, (by) => void (run.decisions.approval = by), {
    description: 'Approve the upgrade: {"by": "name", "comment": "..."}',
  });
  setHandler(rejectSignal, (by) => void (run.decisions.rejection = by), {
    description: 'Reject the upgrade: {"by": "name", "reason": "..."}; nothing is touched',
  });
  setHandler(pauseSignal, () => void (progress.paused = true), {
    description: 'Hold the run before the next node',
  });
  setHandler(resumeSignal, () => void (progress.paused = false), { description: 'Carry on after a pause' });
  registerOperatorUpdates(run);
  return run;
}

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
function registerOperatorUpdates(run: ClusterRun): void {
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
