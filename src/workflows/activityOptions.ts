import {
  ActivityCancellationType,
  proxyActivities,
  proxyLocalActivities,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { DEFAULT_HEARTBEAT_TIMEOUT_MS } from '../domain/index.js';

/**
 * Every activity's timeouts, retries and cancellation, chosen per kind of work. The rule of thumb:
 * an inner timeout (talosctl --timeout, terraform's, a health check's) is always shorter than the
 * start-to-close of the activity that runs it, and shorter than its heartbeat timeout where it blocks
 * the heartbeat, so an activity never dies of a timeout it set itself.
 */

// Ten attempts, about eight minutes: forward steps give up and hand over to their compensation.
const retry = { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 10 };

/**
 * Reads, cordon and uncordon: nothing to settle when cancelled, so TRY_CANCEL (the default) lets a
 * cancel act at once. Heartbeats come every few seconds; 30 s lets a dead worker's call be retried
 * elsewhere within half a minute.
 */
export const quick = proxyActivities<Activities>({
  startToCloseTimeout: '2m',
  heartbeatTimeout: '30s',
  retry,
});

/**
 * The same quick reads as local activities: the worker runs them inside the workflow task, sparing a
 * round trip through the server each. Only reads, cordon and uncordon go local: a worker that dies
 * during one loses the task and the next worker runs the (idempotent) call again. 3 m covers etcd status
 * (every controller at once, 10 s each) plus the member list from each controller in turn (10 s each).
 */
export const local = proxyLocalActivities<Activities>({
  startToCloseTimeout: '3m',
  retry,
});

/**
 * Reads that only improve a decision (which worker a lane starts next, which are marked pending): two short tries,
 * then the run goes on without them rather than wait out a retry schedule built for steps that must
 * succeed.
 */
export const hints = proxyLocalActivities<Activities>({
  startToCloseTimeout: '1m',
  retry: { initialInterval: '2s', maximumAttempts: 2 },
});

/**
 * A node's health gates as local activities: they only read
 * the cluster (their probe pods clean up after themselves), so a worker that dies during one loses
 * nothing and the next worker checks again; each gate is one marker in the history instead of six
 * events. 15 m covers a gate many times over: its checks run side by side, each with 3 tries of 30 s
 * and the pauses between (about 95 s at worst; 12 min when they ran one after another); a
 * gate longer than a workflow task's timeout keeps its task alive by itself (the SDK heartbeats it).
 */
export const localChecks = proxyLocalActivities<Activities>({
  startToCloseTimeout: '15m',
  retry,
});

/**
 * Steps that change the world (drain, talosctl upgrade/install/reboot, terraform, etcd leave, machine
 * config and patches, upgrade-k8s): WAIT_CANCELLATION_COMPLETED, so a cancel waits until the step has
 * settled (terraform interrupted and its lock released, an accepted Talos upgrade waited out) before
 * any compensation starts. 75 m exceeds every inner timeout (terraform: 60 m; upgrade-k8s: up to 2 waiting for Talos's add-ons, its dry run's 22 and its own 50). The
 * heartbeat timeout is policy.heartbeatTimeout (60 s, at least 20 s; see heartbeating below): the
 * activities record a beat every few seconds, also during a blocking call (runCommand from its start,
 * heartbeatWhile), and the worker sends one within 10 s of it (src/worker/heartbeatThrottle.ts).
 */
const MUTATING: ActivityOptions = {
  startToCloseTimeout: '75m',
  heartbeatTimeout: DEFAULT_HEARTBEAT_TIMEOUT_MS,
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry,
};
export const mutating = proxyActivities<Activities>(MUTATING);

/** Waits and checks (Ready, health): nothing to settle, so they stop at once when cancelled. */
const WAITS: ActivityOptions = {
  startToCloseTimeout: '75m',
  heartbeatTimeout: DEFAULT_HEARTBEAT_TIMEOUT_MS,
  retry,
};
export const waits = proxyActivities<Activities>(WAITS);

/**
 * How long a compensation keeps retrying by itself before the node asks an operator: an undo must not
 * give up after eight minutes (a Proxmox host rebooting, a Terraform lock held by a colleague).
 */
export const UNDO_PATIENCE = '2 hours';

/**
 * Compensations: retried without an attempt limit until they succeed or UNDO_PATIENCE has passed;
 * then the node shows CompensationStuck and waits for an operator (retry or abandon).
 */
const UNDO: ActivityOptions = {
  startToCloseTimeout: '75m',
  scheduleToCloseTimeout: UNDO_PATIENCE,
  heartbeatTimeout: DEFAULT_HEARTBEAT_TIMEOUT_MS,
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1m' },
};
export const undo = proxyActivities<Activities>(UNDO);

/**
 * mutating, waits and undo with a cluster's policy.heartbeatTimeout: how long a step's silence lasts
 * before the server gives it to another worker, i.e. how soon the work of a dead worker goes on.
 * Absent (runs that described their cluster before the setting existed): the defaults above. A run
 * keeps the value it read when it described its cluster; a changed policy applies to the next run.
 */
export function heartbeating(heartbeatTimeoutMs: number | undefined) {
  if (heartbeatTimeoutMs === undefined || heartbeatTimeoutMs === DEFAULT_HEARTBEAT_TIMEOUT_MS)
    return { mutating, waits, undo };
  const heartbeatTimeout = { heartbeatTimeout: heartbeatTimeoutMs };
  return {
    mutating: proxyActivities<Activities>({ ...MUTATING, ...heartbeatTimeout }),
    waits: proxyActivities<Activities>({ ...WAITS, ...heartbeatTimeout }),
    undo: proxyActivities<Activities>({ ...UNDO, ...heartbeatTimeout }),
  };
}

/**
 * The queue's wait for a cluster's earlier run (left behind by a terminated queue) to end: as long as
 * that run may take, heartbeating; retried without limit, since the queue must not skip it.
 */
export const guard = proxyActivities<Activities>({
  startToCloseTimeout: '24 hours',
  heartbeatTimeout: '1m',
  retry: { initialInterval: '5s', maximumInterval: '1m' },
});

/**
 * Reading a delivered merge from GitHub or git: retried without an attempt limit, backing off to one
 * try a minute, because a repository outage must delay the upgrade, never lose the merge. The attempt
 * count and the last error show on the queue's pending activity in the Web UI.
 */
export const ingest = proxyActivities<Activities>({
  startToCloseTimeout: '3m',
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '1m' },
});

/** The quick reads and the uncordon inside compensations: local, with the undo's patience. */
export const undoLocal = proxyLocalActivities<Activities>({
  startToCloseTimeout: '3m',
  scheduleToCloseTimeout: UNDO_PATIENCE,
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1m' },
});

/** Notifications never fail a run; one try each. */
export const notifications = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  retry: { maximumAttempts: 1 },
});
