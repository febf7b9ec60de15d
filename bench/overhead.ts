/**
 * Overhead: what the orchestration itself costs per node. A pets and a cattle upgrade of every node on
 * the lab with the node operations made instant (reboots and VM boots take 0 s, stabilisation 1 ms,
 * one node at a time), then, from the Temporal histories, the run's wall time minus every moment in
 * which an activity or a timer was at work: what is left is orchestration (workflow tasks, scheduling,
 * child workflow starts), divided by the number of nodes. Target: at most 0.5 s per node.
 *
 *   node --import tsx bench/overhead.ts [--preset prox-ops] [--temporal <host:port>]
 */
import { pathToFileURL } from 'node:url';
import { Command } from 'commander';
import { markdownTable } from 'markdown-table';
import { tunedInventory } from '../test/worker/workerProcess.js';
import { covered, fetchRunTimes, type RunTimes, workOf } from './lib/history.js';
import { clusterNameOf } from './lib/inventory.js';
import { seconds, withStack } from './lib/stack.js';
import { startUpgrade } from './lib/upgrade.js';

export interface OverheadRow {
  run: string;
  outcome: string;
  nodes: number;
  wallMs: number;
  workMs: number;
  orchestrationMs: number;
  perNodeMs: number;
  /** Of the orchestration, what happened inside the node workflows (between their steps). */
  insideNodesMs: number;
  eventsPerNode: number;
  eventsCluster: number;
}

export function overheadOf(run: string, outcome: string, times: RunTimes): OverheadRow {
  const { cluster, nodes } = times;
  const wallMs = cluster.end - cluster.start;
  const all = [cluster, ...nodes].flatMap((t) => [...t.activities, ...t.timers]);
  const workMs = covered(all, cluster.start, cluster.end);
  const orchestrationMs = wallMs - workMs;
  const insideNodesMs = nodes.reduce((sum, n) => sum + (n.end - n.start - workOf(n)), 0);
  return {
    run,
    outcome,
    nodes: nodes.length,
    wallMs,
    workMs,
    orchestrationMs,
    perNodeMs: orchestrationMs / Math.max(1, nodes.length),
    insideNodesMs,
    eventsPerNode: nodes.reduce((sum, n) => sum + n.events, 0) / Math.max(1, nodes.length),
    eventsCluster: cluster.events,
  };
}

export async function runOverhead(options: { preset: string; temporal?: string }): Promise<OverheadRow[]> {
  return withStack('overhead', async (stack) => {
    const temporal = await stack.temporal(options.temporal);
    const lab = await stack.lab(options.preset, ['--reboot-seconds', '0', '--vm-boot-seconds', '0']);
    const inventory = await tunedInventory(lab.env.TALOS_UPGRADE_INVENTORY ?? '', {
      stabilisation: '1ms',
      nodeReadyTimeout: '60s',
      maxParallelWorkers: 1,
      drain: { timeout: '1s', force: true },
    });
    const cluster = await clusterNameOf(inventory);
    const taskQueue = `bench-overhead-${Date.now().toString(36)}`;
    await stack.worker({
      env: lab.env,
      inventories: [inventory],
      taskQueue,
      address: temporal.address,
      extraEnv: { TALOS_UPGRADE_POLL_INTERVAL: '100ms' },
    });
    const rows: OverheadRow[] = [];
    for (const [run, to] of [
      ['pets 1.11.3 -> 1.11.4', '1.11.4'],
      ['cattle 1.11.4 -> 1.12.0', '1.12.0'],
    ] as const) {
      const started = await startUpgrade(temporal.client, { taskQueue, cluster, to, tag: 'overhead' });
      const result = await started.result;
      rows.push(overheadOf(run, result.outcome, await fetchRunTimes(temporal.client, started.workflowId)));
    }
    return rows;
  });
}

export function overheadTable(rows: OverheadRow[]): string {
  return markdownTable(
    [
      [
        'run',
        'outcome',
        'nodes',
        'wall (s)',
        'activities and timers at work (s)',
        'orchestration (s)',
        'of it inside node workflows (s)',
        'orchestration per node (s)',
        'target',
        'events per node workflow',
        'events in the cluster workflow',
      ],
      ...rows.map((r) => [
        r.run,
        r.outcome,
        String(r.nodes),
        seconds(r.wallMs),
        seconds(r.workMs),
        seconds(r.orchestrationMs),
        seconds(r.insideNodesMs),
        (r.perNodeMs / 1000).toFixed(2),
        r.perNodeMs <= 500 ? '≤ 0.5 ✅' : '≤ 0.5 ❌',
        r.eventsPerNode.toFixed(0),
        String(r.eventsCluster),
      ]),
    ],
    { align: ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'l', 'r', 'r'] },
  );
}

async function main(): Promise<void> {
  const options = new Command('bench/overhead')
    .option('--preset <name>', 'lab preset', 'prox-ops')
    .option('--temporal <address>', 'an existing Temporal frontend (default: a dev server of its own)')
    .parse()
    .opts<{ preset: string; temporal?: string }>();
  console.log(overheadTable(await runOverhead(options)));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
