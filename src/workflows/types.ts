import type { Strategy } from '../domain/index.js';

/** One upgrade asked for: by a merged pull request, a push, or an operator. */
export interface UpgradeRequest {
  /** Dedupe key: the merge commit sha or the GitHub delivery id. */
  requestId: string;
  cluster: string;
  talos: { from?: string; to: string };
  /** Without `from`, the run starts from the oldest kubelet in the cluster. */
  kubernetes?: { from?: string; to: string };
  strategy?: Strategy;
  /** Why the request asks no strategy although it was given labels (both labels): for the history. */
  strategyNote?: string;
  /** Who or what asked, for the history and the notifications. */
  source: string;
  /** Plan and pre-flight only (`start --dry-run`): nothing is touched, nothing notified. */
  dryRun?: boolean;
  /** Only these nodes (`start --nodes`): a trial by hand; the others keep what they run. */
  nodes?: string[];
  /**
   * The merge commit the request was read from: the worker's clone of the repository is brought to it
   * before any Terraform run. Absent for an operator's request (the clone is used as it is).
   */
  commit?: string;
}

/**
 * A merge as the webhook recorded it, before anyone read the repository: the cluster's queue reads
 * the versions file at both commits (an activity retried through a GitHub or git outage) and makes it
 * an UpgradeRequest, or nothing when no version moved.
 */
export interface DeliveredMerge {
  /** The merge commit (or pushed head): the id of the run it becomes, so one merge is one run. */
  requestId: string;
  cluster: string;
  delivery: {
    repository: string;
    before: string;
    after: string;
    /** poll: found by reading the default branch (repository.poll), not delivered by GitHub. */
    event: 'pull_request' | 'push' | 'poll';
    /** GitHub's X-GitHub-Delivery, for matching the queue's history to GitHub's delivery log. */
    id?: string;
  };
  strategy?: Strategy;
  strategyNote?: string;
  source: string;
}

/** What waits in a cluster's queue: an operator's request or a delivered merge still to be read. */
export type QueuedItem = UpgradeRequest | DeliveredMerge;

export const isDeliveredMerge = (item: QueuedItem): item is DeliveredMerge => 'delivery' in item;

/** A hop of the plan, with why it takes its strategy (absent in runs planned before it was kept). */
export interface PlannedHop {
  from: string;
  to: string;
  strategy: Strategy;
  reason?: string;
}

export type NodeOutcome = 'upgraded' | 'skipped' | 'rolled-back' | 'rollback-failed' | 'not-started';

export interface NodeResult {
  node: string;
  hop: string;
  strategy: Strategy;
  outcome: NodeOutcome;
  startedAt?: string;
  durationMs: number;
  error?: string;
}

export type RunOutcome = 'succeeded' | 'failed' | 'cancelled' | 'rejected' | 'nothing-to-do' | 'dry-run';

export interface ClusterUpgradeResult {
  cluster: string;
  requestId: string;
  outcome: RunOutcome;
  reason?: string;
  talos: { from: string; to: string };
  hops: PlannedHop[];
  /** Who approved a run that needed approval, for the audit trail. */
  approvedBy?: { by: string; identity?: string; comment?: string };
  nodes: NodeResult[];
  etcdSnapshot?: string;
  /** What planning found that the request did not say (it started from what the nodes run). */
  planNote?: string;
  /** Each recreated node's rebuild as pre-flight's saved plans summed it up (cattle hops). */
  rebuildPlans?: RebuildPlan[];
  durationMs: number;
}

/** One node's rebuild at one version, as Terraform's saved plans sum it up ("1 to destroy"). */
export interface RebuildPlan {
  node: string;
  version: string;
  destroy: string;
  create: string;
}

export interface NodeUpgradeInput {
  cluster: string;
  node: string;
  role: 'controlplane' | 'worker';
  strategy: Strategy;
  from: string;
  to: string;
  timing: {
    drainTimeoutMs: number;
    nodeReadyTimeoutMs: number;
    stabilisationMs: number;
    /** How long a health gate waits for storage that is recovering (policy.recoveryTimeout). */
    recoveryTimeoutMs: number;
    /** The cluster's policy.heartbeatTimeout (absent in runs from before it existed: 60 s). */
    heartbeatTimeoutMs?: number;
  };
  drainForce: boolean;
  /** Talos 1.13+ pets install before the drain; absent in runs started before it existed: true. */
  installBeforeDrain?: boolean;
}

export interface ClusterProgress {
  phase: string;
  /** What planning found that the request did not say (it started from what the nodes run). */
  planNote?: string;
  hop?: string;
  paused: boolean;
  /** What the last pre-flight checked and found, for the approver and the Web UI. */
  preFlight?: string;
  /** Each recreated node's rebuild as the last pre-flight's saved plans summed it up. */
  rebuildPlans?: RebuildPlan[];
  approval?: {
    state: 'waiting' | 'approved' | 'rejected' | 'timed-out';
    by?: string;
    /** The Temporal client identity the answer came with. */
    identity?: string;
    comment?: string;
  };
  /** policy.approval.approvers: who may approve or reject (absent: anyone who reaches Temporal). */
  approvers?: string[];
  /**
   * policy.canary: the trial worker, where its trial is (upgrading, holding) and how it ended
   * (approved, rejected, the hold passed, or the canary's upgrade failed or was cancelled).
   */
  canary?: {
    node: string;
    state: 'upgrading' | 'holding' | 'approved' | 'rejected' | 'held' | 'failed' | 'cancelled';
    by?: string;
    identity?: string;
  };
  current: string[];
  /** The node workflows in flight, for `talos-upgrade status` to ask each for its step. */
  inFlight: Array<{ node: string; workflowId: string }>;
  nodes: NodeResult[];
  totalNodeUpgrades: number;
  /** The cluster's maintenance windows, once planned (absent: nodes may start at any time). */
  maintenanceWindows?: string[];
  /** The last look at the windows: open until, waiting until, or overridden by an operator. */
  window?: {
    state: 'open' | 'waiting' | 'overridden';
    windows: string[];
    until?: string;
    by?: string;
    identity?: string;
  };
}

/**
 * Whether approve and reject answer the canary now: from the moment it is chosen, so that an
 * operator who has seen enough while it upgrades is heard (its hold then ends at once), until its hold ends.
 */
export const canaryTakesAnswers = (progress: Pick<ClusterProgress, 'canary'>): boolean =>
  progress.canary?.state === 'upgrading' || progress.canary?.state === 'holding';
