import type { MetricMeter } from '@temporalio/common';
import { metricMeter } from '@temporalio/workflow';
import type { Strategy } from '../domain/index.js';
import type { NodeOutcome, RunOutcome } from './types.js';

/**
 * The product's own metrics, on the worker's Prometheus endpoint beside the SDK's. Recorded from the
 * workflows, whose meter stays silent while a history replays, so a worker that takes over a run
 * counts nothing twice. The names are what deploy/grafana-dashboard.json and deploy/prometheus-
 * alerts.yaml use; test/worker/worker.test.ts scrapes a lab run's endpoint for each of them.
 */
export const METRIC = {
  nodeUpgrades: 'talos_upgrade_node_upgrades_total',
  nodeDuration: 'talos_upgrade_node_upgrade_duration_seconds',
  rollbacks: 'talos_upgrade_rollbacks_total',
  runs: 'talos_upgrade_runs_total',
  runDuration: 'talos_upgrade_run_duration_seconds',
} as const;

/**
 * The counters, defined once for the workflows that count and the worker that starts them at 0: same
 * name, unit and description from either meter, so both write the same series.
 */
export function runCounters(meter: MetricMeter) {
  return {
    nodeUpgrades: meter.createCounter(
      METRIC.nodeUpgrades,
      'node upgrades',
      'Node upgrades ended, by outcome, strategy and role',
    ),
    rollbacks: meter.createCounter(
      METRIC.rollbacks,
      'rollbacks',
      'Nodes rolled back after a failure, and failed rollbacks',
    ),
    runs: meter.createCounter(METRIC.runs, 'runs', 'Cluster upgrade runs ended, by outcome'),
  };
}

/** A node's run ended: its outcome (upgraded, skipped, rolled-back, rollback-failed), strategy, role. */
export function recordNodeUpgrade(
  node: { cluster: string; strategy: Strategy; role: string; outcome: NodeOutcome | 'cancelled' },
  durationMs: number,
): void {
  const tags = { cluster: node.cluster, strategy: node.strategy, role: node.role, outcome: node.outcome };
  const counters = runCounters(metricMeter);
  counters.nodeUpgrades.add(1, tags);
  metricMeter
    .createHistogram(METRIC.nodeDuration, 'float', 's', 'How long one node took, start to end')
    .record(durationMs / 1000, tags);
  if (node.outcome === 'rolled-back' || node.outcome === 'rollback-failed')
    counters.rollbacks.add(1, {
      cluster: node.cluster,
      strategy: node.strategy,
      role: node.role,
      result: node.outcome === 'rolled-back' ? 'ok' : 'failed',
    });
}

/** A cluster run ended (succeeded, failed, cancelled, rejected, nothing-to-do), and how long it took. */
export function recordRun(cluster: string, outcome: RunOutcome, durationMs: number): void {
  runCounters(metricMeter).runs.add(1, { cluster, outcome });
  metricMeter
    .createHistogram(METRIC.runDuration, 'float', 's', 'How long a cluster upgrade run took')
    .record(durationMs / 1000, { cluster, outcome });
}
