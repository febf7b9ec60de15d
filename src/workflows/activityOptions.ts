import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';

// Heartbeats come every few seconds; a 30 s heartbeat timeout lets a dead worker's activity be
// retried elsewhere within half a minute instead of waiting out its whole start-to-close timeout.
const retry = { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 10 };

/** Quick calls: reads, cordon, patches. */
export const quick = proxyActivities<Activities>({
  startToCloseTimeout: '2m',
  heartbeatTimeout: '30s',
  retry,
});

/**
 * The same quick calls as local activities: the worker runs them inside the workflow task, sparing a
 * round trip through the server each (a node upgrade makes half a dozen). A worker that dies during
 * one loses the task, and the next worker runs the (idempotent) call again.
 */
export const local = proxyLocalActivities<Activities>({
  startToCloseTimeout: '2m',
  retry,
});

/** The quick calls, remote or local: what a node upgrade uses depends on its version. */
export type QuickActivities = typeof quick;

/** Long, heartbeating work: drains, upgrades, Terraform, waits for Ready. */
export const long = proxyActivities<Activities>({
  startToCloseTimeout: '45m',
  heartbeatTimeout: '30s',
  retry,
});

/** Notifications never fail a run; one try each. */
export const notifications = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  retry: { maximumAttempts: 1 },
});
