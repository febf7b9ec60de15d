/**
 * Fleet: N clusters (default 50 copies of prox-ops, 15 nodes each) upgraded at once by ONE worker
 * process on ONE dev server. The lab hosts the fleet on one API server (`talos-lab up --fleet N`);
 * each cluster has its own inventory, talosconfig, Talos and etcd state and invariant monitor. Pets
 * 1.11.3 -> 1.11.4 everywhere, node operations fast (reboots 1 s). Prints the wall time, node
 * upgrades per second, the worker's peak RSS, and history events per node and per cluster workflow.
 *
 *   node --import tsx bench/fleet.ts [--clusters 50] [--preset prox-ops] [--temporal <addr>]
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { Command } from 'commander';
import { markdownTable } from 'markdown-table';
import { presetChoices, userInventory } from '../test/harness/userInventory.js';
import { tunedInventory } from '../test/worker/workerProcess.js';
import { cpuSince, machineBusySeconds, treeCpu } from './lib/cpu.js';
import { wholeNumber } from './lib/options.js';
import { fetchEvents } from './lib/history.js';
import { countTrouble, noTrouble, type TaskTrouble } from './lib/taskTrouble.js';
import { sampleSlots, type SlotSamples, type SlotUse } from './lib/slotSamples.js';
import { seconds, withStack } from './lib/stack.js';
import { startUpgrade } from './lib/upgrade.js';

export interface FleetResult {
  clusters: number;
  nodesPerCluster: number;
  succeeded: number;
  nodeUpgrades: number;
  wallMs: number;
  peakRssMb: number;
  /** The worker's tuning: V8's old-space limit per thread (MiB) and its workflow cache, when set. */
  workerHeapMb?: number;
  cachedWorkflows?: number;
  eventsPerNode: { mean: number; max: number };
  eventsPerCluster: { mean: number; max: number };
  /** Workflow tasks timed out or failed, activities timed out or retried, in cluster and node histories. */
  trouble: { cluster: TaskTrouble; node: TaskTrouble };
  /** The worker's task slots in use, sampled from its metrics endpoint every SLOT_SAMPLE_MS. */
  slots: SlotSamples;
  violations: number;
  /** CPU seconds during the run, by where they went. */
  cpu: {
    worker: number;
    /** The clients the worker ran: talosctl, terraform. */
    workerClients: number;
    /** Not measured on a dev server the bench did not start (a test run's). */
    devServer?: number;
    /** The lab's daemon, API server, etcd, kwok and simulated Talos nodes. */
    lab: number;
    /** All cores: the difference to the above is the bench itself and the rest of the machine. */
    machine: number;
  };
  /**
   * What one member's kubeconfig shows of the shared API server: its own Nodes and kube-system pods,
   * as a cluster with an API server of its own would (the lab's fleet view narrows the lists).
   */
  memberView: { nodes: number; systemPods: number };
  /** Why runs failed, with how many: a fleet run that loses clusters must say what went wrong. */
  failures: Array<{ reason: string; count: number }>;
}

interface FleetFile {
  clusters: Array<{ name: string; dir: string; talosconfig: string }>;
}

/**
 * Each member's inventory as its user writes it: init on the member (its own kubeconfig and
 * talosconfig), then the preset's choices with node and pod health only, since the add-ons'
 * namespaces are shared by the whole fleet. Two at a time: init is mostly talosctl's CPU.
 */
async function memberInventories(fleet: FleetFile, preset: string, env: Record<string, string>) {
  const choices = await presetChoices(preset);
  choices.policy = { ...(choices.policy as Record<string, unknown>), healthChecks: ['node', 'pods'] };
  // Members have no Terraform: the preset's Terraform settings have nothing to settle.
  delete choices.terraform;
  const files: string[] = new Array<string>(fleet.clusters.length);
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < fleet.clusters.length; i = next++) {
      const c = fleet.clusters[i];
      if (!c) continue;
      const credentials = { kubeconfig: join(c.dir, 'kubeconfig'), talosconfig: c.talosconfig };
      files[i] = await userInventory(c.dir, env, choices, credentials);
    }
  };
  await Promise.all([lane(), lane()]);
  return files;
}

/** Resident memory of a process and its peak, from /proc (Linux), in MiB. */
async function rssMb(pid: number): Promise<{ now: number; peak: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
  return { now: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

/** The Nodes and kube-system pods a fleet member's own kubeconfig lists. */
async function viewOf(memberDir: string): Promise<FleetResult['memberView']> {
  const kc = new KubeConfig();
  kc.loadFromFile(join(memberDir, 'kubeconfig'));
  const core = kc.makeApiClient(CoreV1Api);
  const [nodes, pods] = await Promise.all([
    core.listNode(),
    core.listNamespacedPod({ namespace: 'kube-system' }),
  ]);
  return { nodes: nodes.items.length, systemPods: pods.items.length };
}

/** How often the worker's slots in use are sampled: about 250 samples at 100 clusters. */
const SLOT_SAMPLE_MS = 5000;

const stats = (xs: number[]) => ({
  mean: xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length),
  max: Math.max(0, ...xs),
});

export async function runFleet(options: {
  clusters: number;
  preset: string;
  temporal?: string;
  /** `--max-old-space-size` for the worker process (each of its threads); default: Node's own. */
  workerHeapMb?: number;
  /** TALOS_UPGRADE_MAX_CACHED_WORKFLOWS for the worker; default: the SDK's. */
  cachedWorkflows?: number;
  log?: (line: string) => void;
}): Promise<FleetResult> {
  const log = options.log ?? ((line: string) => console.error(line));
  return withStack('fleet', async (stack) => {
    const temporal = await stack.temporal(options.temporal);
    log(`starting a lab with ${options.clusters} ${options.preset} clusters on one API server`);
    const lab = await stack.lab(options.preset, ['--fleet', String(options.clusters)]);
    const fleet = JSON.parse(await readFile(join(lab.dir, 'fleet.json'), 'utf8')) as FleetFile;
    const memberView = await viewOf(fleet.clusters.at(-1)?.dir ?? '');
    log(`talos-upgrade init on each of the ${fleet.clusters.length} clusters`);
    const generated = await memberInventories(fleet, options.preset, lab.env);
    const inventories = await Promise.all(
      generated.map((file) =>
        tunedInventory(file, {
          stabilisation: '1s',
          nodeReadyTimeout: '5m',
          drain: { timeout: '5s', force: true },
        }),
      ),
    );
    const taskQueue = `bench-fleet-${Date.now().toString(36)}`;
    const worker = await stack.worker({
      env: lab.env,
      inventories,
      taskQueue,
      address: temporal.address,
      extraEnv: {
        TALOS_UPGRADE_MAX_CONCURRENT_ACTIVITIES: String(Math.max(20, options.clusters * 4)),
        TALOS_UPGRADE_POLL_INTERVAL: '1s',
        ...(options.workerHeapMb
          ? {
              NODE_OPTIONS: [process.env.NODE_OPTIONS, `--max-old-space-size=${options.workerHeapMb}`]
                .filter(Boolean)
                .join(' '),
            }
          : {}),
        ...(options.cachedWorkflows
          ? { TALOS_UPGRADE_MAX_CACHED_WORKFLOWS: String(options.cachedWorkflows) }
          : {}),
      },
    });
    const pid = worker.child.pid ?? 0;
    let peakRss = 0;
    const sampler = setInterval(() => {
      void rssMb(pid)
        .then((m) => (peakRss = Math.max(peakRss, m.now, m.peak)))
        .catch(() => undefined);
    }, 1000);
    sampler.unref();
    const slots = sampleSlots(`http://127.0.0.1:${worker.metricsPort}/metrics`, SLOT_SAMPLE_MS);
    // Stopped with the stack too: a run that fails must not leave them sampling a worker that is gone.
    stack.defer(async () => {
      clearInterval(sampler);
      slots.stop();
    });
    // Pid 0 or -1 would name no tree (0 would be the whole machine): a tree left out counts 0.
    const roots = {
      ...(pid > 0 ? { worker: pid } : {}),
      ...(temporal.pid && temporal.pid > 0 ? { devServer: temporal.pid } : {}),
      lab: lab.pid,
    };
    const cpuBefore = await treeCpu(roots);
    const machineBefore = await machineBusySeconds();
    const started = Date.now();
    const runs = await Promise.all(
      fleet.clusters.map((c) =>
        startUpgrade(temporal.client, { taskQueue, cluster: c.name, to: '1.11.4', tag: 'fleet' }),
      ),
    );
    log(`${runs.length} upgrades started; waiting for them`);
    let done = 0;
    const results = await Promise.all(
      runs.map((r) =>
        r.result.then((result) => {
          done += 1;
          if (done % Math.max(1, Math.round(runs.length / 10)) === 0 || done === runs.length)
            log(`${done}/${runs.length} clusters done after ${seconds(Date.now() - started)}s`);
          return result;
        }),
      ),
    );
    const wallMs = Date.now() - started;
    const cpu = cpuSince(cpuBefore, await treeCpu(roots));
    const machine = (await machineBusySeconds()) - machineBefore;
    peakRss = Math.max(peakRss, (await rssMb(pid)).peak);
    clearInterval(sampler);
    const slotSamples = slots.stop();

    const clusterEvents: number[] = [];
    const nodeEvents: number[] = [];
    const trouble = { cluster: noTrouble(), node: noTrouble() };
    for (const run of runs) {
      const events = await fetchEvents(temporal.client, run.workflowId);
      clusterEvents.push(events.length);
      countTrouble(trouble.cluster, events);
      for (const e of events) {
        const child = e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId;
        if (!child) continue;
        const childEvents = await fetchEvents(temporal.client, child);
        nodeEvents.push(childEvents.length);
        countTrouble(trouble.node, childEvents);
      }
    }
    let violations = 0;
    for (const c of fleet.clusters) {
      // Each member's daemon.json leads to its own part of the lab's API.
      const { apiUrl } = JSON.parse(await readFile(join(c.dir, 'daemon.json'), 'utf8')) as { apiUrl: string };
      const report = (await (await fetch(`${apiUrl}/report`)).json()) as { violations: unknown[] };
      violations += report.violations.length;
    }
    const reasons = new Map<string, number>();
    for (const r of results.filter((r) => r.outcome !== 'succeeded')) {
      // Node names differ per cluster; the reason without them groups the same failure together.
      const reason = (r.reason ?? r.outcome).replaceAll(r.cluster, '<cluster>').slice(0, 300);
      reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
    }
    return {
      failures: [...reasons].map(([reason, count]) => ({ reason, count })),
      memberView,
      clusters: runs.length,
      nodesPerCluster: results[0]?.nodes.length ?? 0,
      succeeded: results.filter((r) => r.outcome === 'succeeded').length,
      nodeUpgrades: results.reduce(
        (sum, r) => sum + r.nodes.filter((n) => n.outcome === 'upgraded').length,
        0,
      ),
      wallMs,
      peakRssMb: peakRss,
      ...(options.workerHeapMb ? { workerHeapMb: options.workerHeapMb } : {}),
      ...(options.cachedWorkflows ? { cachedWorkflows: options.cachedWorkflows } : {}),
      eventsPerNode: stats(nodeEvents),
      eventsPerCluster: stats(clusterEvents),
      trouble,
      slots: slotSamples,
      violations,
      cpu: {
        worker: cpu.worker?.own ?? 0,
        workerClients: cpu.worker?.descendants ?? 0,
        ...(roots.devServer
          ? { devServer: (cpu.devServer?.own ?? 0) + (cpu.devServer?.descendants ?? 0) }
          : {}),
        lab: (cpu.lab?.own ?? 0) + (cpu.lab?.descendants ?? 0),
        machine,
      },
    };
  });
}

/** "cluster runs / node runs" for each kind of trouble. */
function troubleRows({ cluster, node }: FleetResult['trouble']): string[][] {
  const row = (label: string, key: Exclude<keyof TaskTrouble, 'retryCauses'>) => [
    label,
    `${cluster[key]} / ${node[key]}`,
  ];
  return [
    row('workflow tasks timed out start-to-close (cluster / node runs)', 'taskStartToClose'),
    row('workflow tasks timed out schedule-to-start (cluster / node runs)', 'taskScheduleToStart'),
    row('workflow tasks failed (cluster / node runs)', 'taskFailed'),
    row('activities timed out (cluster / node runs)', 'activityTimeouts'),
    row('remote activities retried (cluster / node runs)', 'retriedActivities'),
    ...retryCauseRows('cluster runs', cluster),
    ...retryCauseRows('node runs', node),
  ];
}

/** A failure as one table cell: a pipe would end the cell, a newline the row. */
const cell = (text: string) => text.replaceAll('|', '\\|').replace(/\s*\n\s*/g, ' ');

/** How many retries' causes a table names, the most frequent first, per kind of run. */
const SHOWN_RETRY_CAUSES = 5;

/**
 * "node runs: 7 activities retried after" beside the failure before their last attempt, for the most
 * frequent causes (an activity counts once, by its last retry's cause).
 */
function retryCauseRows(runs: string, trouble: TaskTrouble): string[][] {
  return Object.entries(trouble.retryCauses)
    .sort(([, a], [, b]) => b - a)
    .slice(0, SHOWN_RETRY_CAUSES)
    .map(([cause, count]) => [`${runs}: ${count} activities retried after`, cell(cause)]);
}

/** The worker's slots in use, median / max of how many it had, per kind. */
function slotRows({ samples, workflowTasks, activities, localActivities }: SlotSamples): string[][] {
  const row = (label: string, use: SlotUse) => [
    `${label} slots in use (median / max of ${samples} samples)`,
    `${use.median} / ${use.max} of ${use.slots}`,
  ];
  return [
    row('workflow-task', workflowTasks),
    row('activity', activities),
    row('local-activity', localActivities),
  ];
}

export function fleetTable(r: FleetResult): string {
  const perNode = (cpuSeconds: number) => (cpuSeconds / Math.max(1, r.nodeUpgrades)).toFixed(3);
  return markdownTable(
    [
      ['figure', 'value'],
      ['clusters × nodes', `${r.clusters} × ${r.nodesPerCluster}`],
      ['nodes / kube-system pods one member lists', `${r.memberView.nodes} / ${r.memberView.systemPods}`],
      ['runs succeeded', `${r.succeeded}/${r.clusters}`],
      ['node upgrades', String(r.nodeUpgrades)],
      ['wall time', `${seconds(r.wallMs)} s`],
      ['node upgrades per second', (r.nodeUpgrades / (r.wallMs / 1000)).toFixed(2)],
      ['worker peak RSS', `${r.peakRssMb.toFixed(0)} MiB`],
      [
        'worker heap limit per thread / workflow cache',
        `${r.workerHeapMb ? `${r.workerHeapMb} MiB` : "Node's default"} / ${r.cachedWorkflows ?? "the SDK's default"}`,
      ],
      ['worker CPU seconds per node upgrade', perNode(r.cpu.worker)],
      ['CPU s per node: talosctl/terraform the worker ran', perNode(r.cpu.workerClients)],
      [
        'CPU s per node: dev server',
        r.cpu.devServer === undefined ? 'not measured (shared)' : perNode(r.cpu.devServer),
      ],
      ['CPU s per node: lab (API server, etcd, kwok, Talos nodes)', perNode(r.cpu.lab)],
      ['CPU s per node: whole machine (2 cores)', perNode(r.cpu.machine)],
      [
        'events per node workflow (mean / max)',
        `${r.eventsPerNode.mean.toFixed(0)} / ${r.eventsPerNode.max}`,
      ],
      [
        'events per cluster workflow (mean / max)',
        `${r.eventsPerCluster.mean.toFixed(0)} / ${r.eventsPerCluster.max}`,
      ],
      ...troubleRows(r.trouble),
      ...slotRows(r.slots),
      ['lab invariant violations', String(r.violations)],
      ...r.failures.map((f) => [`failed (${f.count}×)`, cell(f.reason)]),
    ],
    { align: ['l', 'r'] },
  );
}

async function main(): Promise<void> {
  const options = new Command('bench/fleet')
    .option('--clusters <n>', 'clusters upgraded at once', wholeNumber(1), 50)
    .option('--preset <name>', 'lab preset each cluster copies', 'prox-ops')
    .option('--temporal <address>', 'an existing Temporal frontend (default: a dev server of its own)')
    .option(
      '--worker-heap <MiB>',
      "the worker's V8 old-space limit per thread (default: Node's)",
      wholeNumber(1),
    )
    .option(
      '--cached-workflows <n>',
      "the worker's workflow cache, 2 or more (default: the SDK's)",
      wholeNumber(2), // the worker refuses fewer (the SDK's minimum): refused before the lab starts
    )
    .parse()
    .opts<{
      clusters: number;
      preset: string;
      temporal?: string;
      workerHeap?: number;
      cachedWorkflows?: number;
    }>();
  const { workerHeap, ...rest } = options;
  console.log(fleetTable(await runFleet({ ...rest, workerHeapMb: workerHeap })));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
