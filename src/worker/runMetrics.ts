import { Client } from '@temporalio/client';
import type { MetricMeter } from '@temporalio/common';
import type { NativeConnection } from '@temporalio/worker';
import type { Logger } from 'pino';
import { queryValue } from '../domain/index.js';
import { runCounters } from '../workflows/metrics.js';

export const GAUGE = {
  inProgress: 'talos_upgrade_runs_in_progress',
  awaitingApproval: 'talos_upgrade_runs_awaiting_approval',
  awaitingWindow: 'talos_upgrade_runs_awaiting_window',
} as const;

/**
 * Runs in progress, awaiting approval and awaiting a maintenance window, per cluster of this worker,
 * read from Temporal's visibility every `intervalMs`. Read, not counted by the workflows: a gauge a
 * workflow set would vanish with the worker that set it, while visibility knows every open run.
 */
/**
 * Starts the workflows' counters at 0 for every label set a run can give them, with the labels the
 * SDK adds (namespace, taskQueue, workflowType): a series that first appears at 1 has no increase in
 * Prometheus, so the first rollback would not fire its alert. Same name and labels: same series.
 */
export function zeroRunCounters(options: {
  meter: MetricMeter;
  namespace: string;
  taskQueue: string;
  clusters: string[];
}): void {
  const base = { namespace: options.namespace, taskQueue: options.taskQueue, workflowType: 'clusterUpgrade' };
  const { nodeUpgrades: nodes, rollbacks, runs } = runCounters(options.meter);
  for (const cluster of options.clusters) {
    for (const outcome of ['succeeded', 'failed', 'cancelled', 'rejected', 'nothing-to-do', 'dry-run'])
      runs.add(0, { ...base, cluster, outcome });
    for (const strategy of ['pets', 'cattle'])
      for (const role of ['controlplane', 'worker']) {
        for (const outcome of ['upgraded', 'skipped', 'rolled-back', 'rollback-failed', 'cancelled'])
          nodes.add(0, { ...base, cluster, strategy, role, outcome });
        for (const result of ['ok', 'failed']) rollbacks.add(0, { ...base, cluster, strategy, role, result });
      }
  }
}

export function startRunGauges(options: {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  clusters: string[];
  meter: MetricMeter;
  intervalMs: number;
  logger: Logger;
}): () => Promise<void> {
  const client = new Client({ connection: options.connection, namespace: options.namespace });
  const gauges = {
    inProgress: options.meter.createGauge(GAUGE.inProgress, 'int', 'runs', 'Cluster upgrade runs open now'),
    awaitingApproval: options.meter.createGauge(
      GAUGE.awaitingApproval,
      'int',
      'runs',
      'Runs waiting for an operator to approve or reject',
    ),
    awaitingWindow: options.meter.createGauge(
      GAUGE.awaitingWindow,
      'int',
      'runs',
      'Runs waiting for a maintenance window to open',
    ),
  };
  const query = [
    `WorkflowType = 'clusterUpgrade'`,
    `ExecutionStatus = 'Running'`,
    `TaskQueue = ${queryValue(options.taskQueue)}`,
  ].join(' AND ');

  async function refresh(): Promise<void> {
    const counts = new Map(options.clusters.map((c) => [c, { inProgress: 0, approval: 0, window: 0 }]));
    for await (const run of client.workflow.list({ query })) {
      const cluster = String(run.searchAttributes?.TalosCluster?.[0] ?? '');
      const count = counts.get(cluster);
      if (!count) continue;
      const phase = String(run.searchAttributes?.UpgradePhase?.[0] ?? '');
      count.inProgress += 1;
      if (phase === 'AwaitingApproval') count.approval += 1;
      if (phase === 'AwaitingMaintenanceWindow') count.window += 1;
    }
    for (const [cluster, count] of counts) {
      gauges.inProgress.set(count.inProgress, { cluster });
      gauges.awaitingApproval.set(count.approval, { cluster });
      gauges.awaitingWindow.set(count.window, { cluster });
    }
  }

  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const tick = async () => {
    try {
      await refresh();
    } catch (error) {
      // A visibility hiccup leaves the last values; the next tick tries again.
      options.logger.warn({ err: (error as Error).message }, 'could not refresh the run gauges');
    }
    if (!stopped) timer = setTimeout(() => void tick(), options.intervalMs);
  };
  void tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
    return Promise.resolve();
  };
}
