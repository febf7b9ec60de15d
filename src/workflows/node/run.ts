import { log, setCurrentDetails, setHandler } from '@temporalio/workflow';
import { usesLifecycleApi } from '../../domain/index.js';
import { heartbeating, local, localChecks, undoLocal } from '../activityOptions.js';
import { Saga } from '../saga.js';
import { nodeProgressQuery } from '../signals.js';
import type { NodeUpgradeInput } from '../types.js';

/** Where a node run is, for the progress query and the Web UI's current details. */
export interface NodeProgress {
  node: string;
  step: string;
  index: number;
  total: number;
  stuck?: { undo: string; error: string };
}

/**
 * One node's run: its input, its saga, and one activity profile per kind of work. Each profile is
 * fixed; only the heartbeat timeout (the cluster's policy) varies.
 */
export interface NodeRun {
  input: NodeUpgradeInput;
  at: { cluster: string; node: string };
  saga: Saga;
  progress: NodeProgress;
  /** Names the step the node is at: progress query, current details and the log. */
  step: (name: string) => void;
  /** Reads, cordon and uncordon: local activities, run again by the next worker if this one dies. */
  read: typeof local;
  /** Steps that change the world: a cancel waits until they have settled. */
  change: ReturnType<typeof heartbeating>['mutating'];
  /** Waits (Ready): they stop at once when cancelled. */
  wait: ReturnType<typeof heartbeating>['waits'];
  /** The health gates: local, a marker each in the history. */
  gate: Pick<typeof localChecks, 'runHealthChecks'>;
  /** Inside compensations: retried until they succeed, then handed to an operator. */
  undo: ReturnType<typeof heartbeating>['undo'];
  /** The reads and the uncordon inside compensations, with the same patience. */
  undoRead: typeof undoLocal;
  /** Uncordoned after its upgrade: an undo that takes it down drains it again first (drainForUndo). */
  backInService: boolean;
  /** A controller's etcd version before its upgrade (its first quorum gate's read): what its undo boots. */
  etcdBefore?: string;
}

/**
 * Pets on Talos 1.13+ (the lifecycle API): the new version is pulled and installed while the node
 * still serves, then drained and rebooted; `policy.installBeforeDrain: false` keeps the old order.
 */
export function installsBeforeDrain(input: NodeUpgradeInput): boolean {
  return input.installBeforeDrain !== false && input.strategy === 'pets' && usesLifecycleApi(input.from);
}

/** How many steps a node goes through, to turn the current step into a fraction. */
export function stepCount(input: NodeUpgradeInput): number {
  const controlPlane = input.role === 'controlplane';
  if (input.strategy === 'pets') {
    // gate, (etcd gate), labels, install (1.13+) or the installer's check (legacy), cordon+drain,
    // (etcd gate), upgrade, Ready, NICs, kernel, (etcd member, stabilise), uncordon, health checks
    return 10 + (controlPlane ? 4 : 0);
  }
  // gate, (etcd gate), cordon+drain, backup, (leave etcd), destroy, create, config, Ready, patches,
  // NICs, kernel, (etcd member, stabilise), uncordon, health checks
  return 12 + (controlPlane ? 4 : 0);
}

/** Starts a node run: its progress query, its step counter and its activity profiles. */
export function startNodeRun(input: NodeUpgradeInput): NodeRun {
  const progress: NodeProgress = { node: input.node, step: 'starting', index: 0, total: stepCount(input) };
  setHandler(nodeProgressQuery, () => progress, { description: 'The step this node is at, of how many' });
  const step = (name: string) => {
    progress.step = name;
    progress.index = Math.min(progress.index + 1, progress.total);
    log.info('node step', { node: input.node, step: name });
    // "of", not "/": the Web UI renders a markdown 7/14 as a fraction.
    setCurrentDetails(
      `**${input.node}** (${input.role}) · Talos ${input.from} → ${input.to} as ${input.strategy} · step ${progress.index} of ${progress.total}: **${name}**`,
    );
  };
  const { mutating, waits, undo } = heartbeating(input.timing.heartbeatTimeoutMs);
  return {
    input,
    at: { cluster: input.cluster, node: input.node },
    saga: new Saga(),
    progress,
    step,
    read: local,
    change: mutating,
    wait: waits,
    gate: localChecks,
    undo,
    undoRead: undoLocal,
    backInService: false,
  };
}
