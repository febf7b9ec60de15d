/**
 * Schedule: how close a cattle upgrade of the whole cluster comes to the shortest schedule its
 * steps allow. The lab's waits are real-world durations scaled down (by default 1 s stands for
 * 1 min: a VM takes 3 min to clone and boot, a Talos install and reboot 2 min, stabilisation 2 min,
 * a drain blocked by the single-replica app's PDB 4 min before force), run at maxParallelWorkers 1
 * and 3. The critical-path lower bound comes from the run's own histories: the work of each step
 * (activities and timers at work), with control-plane nodes strictly one after another and at most
 * maxParallelWorkers workers at once:
 *
 *   bound = pre-flight work + Σ control-plane node work + best split of the worker work over p lanes + final work
 *
 * (the best split is the exact optimum over every assignment of workers to lanes, which is at least
 * max(longest worker, Σ worker work / p)).
 * Wall time over that bound is what the orchestration adds: gaps between steps and any worker slot
 * left idle. Target: at most 1.05. (Workers' Terraform runs wait for each other on the state lock;
 * that wait is inside their activities, so it is in the bound too.)
 *
 *   node --import tsx bench/schedule.ts [--preset prox-ops] [--parallel 1,3] [--minute 1000] [--temporal <addr>]
 */
import { pathToFileURL } from 'node:url';
import { readFile } from 'node:fs/promises';
import { Command } from 'commander';
import { markdownTable } from 'markdown-table';
import { parse } from 'yaml';
import { tunedInventory } from '../test/worker/workerProcess.js';
import { covered, fetchRunTimes, gapsOf, type RunTimes, workOf } from './lib/history.js';
import { bestMakespan } from './lib/makespan.js';
import { clusterNameOf } from './lib/inventory.js';
import { seconds, withStack } from './lib/stack.js';
import { startUpgrade } from './lib/upgrade.js';

/** Real-world durations in minutes, from the source documents' figures. */
export const REAL_MINUTES = { vmBoot: 3, reboot: 2, stabilisation: 2, drainTimeout: 4 };

export interface ScheduleRow {
  parallel: number;
  nodes: number;
  outcome: string;
  wallMs: number;
  boundMs: number;
  ratio: number;
  meanWorkerMs: number;
  idleMs: number;
}

/** The node a node workflow's id names (`…:node:<name>:<version>`), or `cluster` for the cluster's own. */
const nodeOf = (workflowId: string) => workflowId.split(':node:')[1]?.split(':')[0] ?? 'cluster';

/** The critical-path lower bound of a run, from the work its histories record. */
export function scheduleBound(times: RunTimes, controllers: Set<string>, parallel: number) {
  const { cluster, nodes } = times;
  const firstChild = Math.min(...cluster.children.map((c) => c.start));
  const lastChild = Math.max(...cluster.children.map((c) => c.end));
  const pre = workOf(cluster, cluster.start, firstChild);
  const post = workOf(cluster, lastChild, cluster.end);
  const isController = (id: string) => [...controllers].some((name) => id.includes(`:node:${name}:`));
  const controlPlane = nodes.filter((n) => isController(n.workflowId)).map((n) => workOf(n));
  const workers = nodes.filter((n) => !isController(n.workflowId)).map((n) => workOf(n));
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const all = [cluster, ...nodes].flatMap((t) => [...t.activities, ...t.timers]);
  return {
    boundMs: pre + sum(controlPlane) + bestMakespan(workers, parallel) + post,
    meanWorkerMs: workers.length ? sum(workers) / workers.length : 0,
    /** Moments in which nothing at all was at work: orchestration on the critical path. */
    idleMs: cluster.end - cluster.start - covered(all, cluster.start, cluster.end),
  };
}

export async function runSchedule(options: {
  preset: string;
  parallel: number[];
  minuteMs: number;
  temporal?: string;
}): Promise<ScheduleRow[]> {
  const rows: ScheduleRow[] = [];
  const minutes = (m: number) => `${Math.round(m * options.minuteMs)}ms`;
  for (const parallel of options.parallel) {
    rows.push(
      await withStack('schedule', async (stack) => {
        const temporal = await stack.temporal(options.temporal);
        const lab = await stack.lab(options.preset, [
          '--vm-boot-seconds',
          String((REAL_MINUTES.vmBoot * options.minuteMs) / 1000),
          '--reboot-seconds',
          String((REAL_MINUTES.reboot * options.minuteMs) / 1000),
          '--max-unavailable-workers',
          String(parallel),
        ]);
        const inventory = await tunedInventory(lab.env.TALOS_UPGRADE_INVENTORY ?? '', {
          stabilisation: minutes(REAL_MINUTES.stabilisation),
          nodeReadyTimeout: minutes(20),
          maxParallelWorkers: parallel,
          drain: { timeout: minutes(REAL_MINUTES.drainTimeout), force: true },
        });
        const doc = parse(await readFile(inventory, 'utf8')) as {
          nodes: Array<{ name: string; role: string }>;
        };
        const controllers = new Set(doc.nodes.filter((n) => n.role === 'controlplane').map((n) => n.name));
        const cluster = await clusterNameOf(inventory);
        const taskQueue = `bench-schedule-${parallel}-${Date.now().toString(36)}`;
        await stack.worker({
          env: lab.env,
          inventories: [inventory],
          taskQueue,
          address: temporal.address,
          extraEnv: { TALOS_UPGRADE_POLL_INTERVAL: '100ms' },
        });
        const started = await startUpgrade(temporal.client, {
          taskQueue,
          cluster,
          to: '1.12.0',
          tag: 'schedule',
        });
        const result = await started.result;
        // A run that did not succeed says why: its ratio means little, and the reason is what to fix.
        if (result.outcome !== 'succeeded')
          console.error(
            [
              `maxParallelWorkers ${parallel}: the run ${result.outcome}${result.reason ? `: ${result.reason}` : ''}`,
              ...result.nodes.filter((n) => n.error).map((n) => `  ${n.node} ${n.outcome}: ${n.error ?? ''}`),
            ].join('\n'),
          );
        const times = await fetchRunTimes(temporal.client, started.workflowId);
        const bound = scheduleBound(times, controllers, parallel);
        if (process.env.BENCH_DEBUG)
          for (const n of times.nodes)
            console.error(
              `${n.workflowId.split(':node:')[1]} start ${seconds(n.start - times.cluster.start)} span ${seconds(n.end - n.start)} work ${seconds(workOf(n))} ${n.activities
                .filter((a) => a.end - a.start > 1500)
                .map((a) => `${a.type}=${seconds(a.end - a.start)}`)
                .join(' ')}`,
            );
        // Where a node run's span is not work: the gaps between its activities and timers, in time order.
        if (process.env.BENCH_DEBUG)
          for (const n of times.nodes)
            console.error(`gaps ${n.workflowId.split(':node:')[1]}: ${gapsOf(n).join(', ')}`);
        // The moments of the whole run with nothing at work, each named by the steps around it: the
        // orchestration on the critical path.
        if (process.env.BENCH_DEBUG) {
          const steps = [times.cluster, ...times.nodes].flatMap((t) => [
            ...t.activities.map((a) => ({ ...a, type: `${nodeOf(t.workflowId)}:${a.type}` })),
            ...t.timers.map((timer) => ({ ...timer, type: `${nodeOf(t.workflowId)}:timer` })),
          ]);
          const run = { ...times.cluster, activities: steps, timers: [] };
          console.error(`nothing at work: ${gapsOf(run, 20).join(', ')}`);
        }
        // The drains and Terraform runs of every node in time order: who waited for the state, and why.
        if (process.env.BENCH_DEBUG)
          console.error(
            times.nodes
              .flatMap((n) =>
                n.activities
                  .filter((a) => /NodeVm|drainNode/.test(a.type))
                  .map((a) => ({ node: nodeOf(n.workflowId), ...a })),
              )
              .sort((a, b) => a.start - b.start)
              .map(
                (a) =>
                  `${seconds(a.start - times.cluster.start)}-${seconds(a.end - times.cluster.start)} ${a.node} ${a.type}`,
              )
              .join('\n'),
          );
        const wallMs = times.cluster.end - times.cluster.start;
        return {
          parallel,
          nodes: times.nodes.length,
          outcome: result.outcome,
          wallMs,
          boundMs: bound.boundMs,
          ratio: wallMs / bound.boundMs,
          meanWorkerMs: bound.meanWorkerMs,
          idleMs: bound.idleMs,
        };
      }),
    );
  }
  return rows;
}

export function scheduleTable(rows: ScheduleRow[], minuteMs: number): string {
  return markdownTable(
    [
      [
        'maxParallelWorkers',
        'nodes',
        'outcome',
        'wall (s)',
        'critical-path lower bound (s)',
        'wall / bound',
        'target',
        'nothing at work (s)',
        'mean worker node (s)',
        'scale',
      ],
      ...rows.map((r) => [
        String(r.parallel),
        String(r.nodes),
        r.outcome,
        seconds(r.wallMs),
        seconds(r.boundMs),
        r.ratio.toFixed(3),
        r.ratio <= 1.05 ? '≤ 1.05 ✅' : '≤ 1.05 ❌',
        seconds(r.idleMs),
        seconds(r.meanWorkerMs),
        `${minuteMs / 1000} s = 1 min`,
      ]),
    ],
    { align: ['r', 'r', 'l', 'r', 'r', 'r', 'l', 'r', 'r', 'l'] },
  );
}

async function main(): Promise<void> {
  const options = new Command('bench/schedule')
    .option('--preset <name>', 'lab preset', 'prox-ops')
    .option('--parallel <list>', 'maxParallelWorkers values, comma-separated', '1,3')
    .option('--minute <ms>', 'how many milliseconds stand for one real minute', '1000')
    .option('--temporal <address>', 'an existing Temporal frontend (default: a dev server of its own)')
    .parse()
    .opts<{ preset: string; parallel: string; minute: string; temporal?: string }>();
  const minuteMs = Number(options.minute);
  const rows = await runSchedule({
    preset: options.preset,
    parallel: options.parallel.split(',').map(Number),
    minuteMs,
    ...(options.temporal ? { temporal: options.temporal } : {}),
  });
  console.log(scheduleTable(rows, minuteMs));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
