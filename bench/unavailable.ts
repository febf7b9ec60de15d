/**
 * Unavailable: how long each node is out of service (cordoned -> uncordoned, from the lab's timeline)
 * in a pets upgrade of Talos 1.13 nodes, installing after the drain (as before 1.13: `talosctl
 * upgrade` pulls, installs and reboots a drained node) versus before it (`upgrade --no-reboot`
 * while the node serves, then drain and reboot). One lab, two runs with the same lab waits: the
 * image pull, install and reboot times below, scaled down from a real node's (about 60 s, 30 s and
 * 60 s) by `--scale`. Target: install-before-drain at most 0.6 x install-after-drain.
 *
 *   node --import tsx bench/unavailable.ts [--preset atlas] [--scale 0.2] [--temporal <host:port>]
 */
import { pathToFileURL } from 'node:url';
import { Command } from 'commander';
import { markdownTable } from 'markdown-table';
import { labReport } from '../test/workflows/labViews.js';
import { tunedInventory } from '../test/worker/workerProcess.js';
import { clusterNameOf } from './lib/inventory.js';
import { seconds, withStack } from './lib/stack.js';
import { startUpgrade } from './lib/upgrade.js';

const REAL_SECONDS = { imagePull: 60, install: 30, reboot: 60 };

export interface UnavailableRow {
  mode: 'install after drain' | 'install before drain';
  hop: string;
  outcome: string;
  nodes: number;
  meanMs: number;
  maxMs: number;
  totalMs: number;
  /** Means of its parts: cordoned -> down (drain, gates, an install after the drain), the reboot, up -> uncordoned. */
  beforeDownMs: number;
  downMs: number;
  afterUpMs: number;
}

type Timeline = Awaited<ReturnType<typeof labReport>>['timeline'];

export interface NodeWindow {
  cordoned: number;
  down?: number;
  up?: number;
  uncordoned?: number;
}

/** Per node: its first cordon, the power-off and power-on of its reboot after it, its last uncordon. */
export function nodeWindows(events: Timeline): Map<string, NodeWindow> {
  const windows = new Map<string, NodeWindow>();
  for (const e of events) {
    if (!e.node) continue;
    const at = Date.parse(e.at);
    const w = windows.get(e.node);
    if (e.kind === 'cordoned' && !w) windows.set(e.node, { cordoned: at });
    if (!w) continue;
    if (e.kind === 'power-off' && w.down === undefined) w.down = at;
    if (e.kind === 'power-on' && w.down !== undefined && w.up === undefined) w.up = at;
    if (e.kind === 'uncordoned') w.uncordoned = at;
  }
  return windows;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

export async function runUnavailable(options: {
  preset: string;
  scale: number;
  temporal?: string;
}): Promise<UnavailableRow[]> {
  const waits = Object.fromEntries(
    Object.entries(REAL_SECONDS).map(([k, v]) => [k, String(Math.max(1, Math.round(v * options.scale)))]),
  ) as Record<keyof typeof REAL_SECONDS, string>;
  return withStack('unavailable', async (stack) => {
    const temporal = await stack.temporal(options.temporal);
    const lab = await stack.lab(options.preset, [
      '--talos',
      '1.13.0',
      '--reboot-seconds',
      waits.reboot,
      '--image-pull-seconds',
      waits.imagePull,
      '--install-seconds',
      waits.install,
    ]);
    const rows: UnavailableRow[] = [];
    for (const [mode, installBeforeDrain, from, to] of [
      ['install after drain', false, '1.13.0', '1.13.4'],
      ['install before drain', true, '1.13.4', '1.13.8'],
    ] as const) {
      const inventory = await tunedInventory(
        lab.env.TALOS_UPGRADE_INVENTORY ?? '',
        {
          stabilisation: '1s',
          nodeReadyTimeout: '120s',
          maxParallelWorkers: 1,
          drain: { timeout: '30s', force: true },
          installBeforeDrain,
        },
        installBeforeDrain ? 'before' : 'after',
      );
      const cluster = await clusterNameOf(inventory);
      const taskQueue = `bench-unavailable-${Date.now().toString(36)}`;
      const worker = await stack.worker({
        env: lab.env,
        inventories: [inventory],
        taskQueue,
        address: temporal.address,
      });
      const mark = (await labReport(lab)).timeline.length;
      const started = await startUpgrade(temporal.client, { taskQueue, cluster, to, tag: 'unavailable' });
      const result = await started.result;
      worker.child.kill('SIGTERM');
      await worker.child.catch(() => undefined);
      const windows = [...nodeWindows((await labReport(lab)).timeline.slice(mark)).values()].filter(
        (w): w is Required<NodeWindow> =>
          w.down !== undefined && w.up !== undefined && w.uncordoned !== undefined,
      );
      const times = windows.map((w) => w.uncordoned - w.cordoned);
      rows.push({
        mode,
        hop: `${from} -> ${to}`,
        outcome: result.outcome,
        nodes: times.length,
        meanMs: mean(times),
        maxMs: Math.max(0, ...times),
        totalMs: times.reduce((a, b) => a + b, 0),
        beforeDownMs: mean(windows.map((w) => w.down - w.cordoned)),
        downMs: mean(windows.map((w) => w.up - w.down)),
        afterUpMs: mean(windows.map((w) => w.uncordoned - w.up)),
      });
    }
    return rows;
  });
}

export function unavailableTable(rows: UnavailableRow[], scale: number): string {
  const after = rows.find((r) => r.mode === 'install after drain');
  const ratio = (r: UnavailableRow) => (after && after.meanMs > 0 ? r.meanMs / after.meanMs : NaN);
  const waits = Object.entries(REAL_SECONDS)
    .map(([k, v]) => `${k} ${Math.max(1, Math.round(v * scale))} s`)
    .join(', ');
  return (
    `lab waits: ${waits} (real x ${scale})\n\n` +
    markdownTable(
      [
        [
          'mode',
          'hop',
          'outcome',
          'nodes',
          'mean unavailable (s)',
          'of it: cordon -> down',
          'down',
          'up -> uncordon',
          'max (s)',
          'sum (s)',
          'vs after drain',
          'target',
        ],
        ...rows.map((r) => [
          r.mode,
          r.hop,
          r.outcome,
          String(r.nodes),
          seconds(r.meanMs),
          seconds(r.beforeDownMs),
          seconds(r.downMs),
          seconds(r.afterUpMs),
          seconds(r.maxMs),
          seconds(r.totalMs),
          `${ratio(r).toFixed(2)} x`,
          r.mode === 'install before drain' ? (ratio(r) <= 0.6 ? '≤ 0.6 ✅' : '≤ 0.6 ❌') : '',
        ]),
      ],
      { align: ['l', 'l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l'] },
    )
  );
}

async function main(): Promise<void> {
  const options = new Command('bench/unavailable')
    .option('--preset <name>', 'lab preset', 'atlas')
    .option('--scale <x>', 'lab waits as a fraction of a real node’s', Number, 0.2)
    .option('--temporal <address>', 'an existing Temporal frontend (default: a dev server of its own)')
    .parse()
    .opts<{ preset: string; scale: number; temporal?: string }>();
  console.log(unavailableTable(await runUnavailable(options), options.scale));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
