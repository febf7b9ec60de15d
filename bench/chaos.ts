/**
 * Chaos: a cattle upgrade on the lab while the worker is SIGKILLed at K random moments (a new one
 * started each time) and the Temporal dev server is restarted once mid-run on the same database
 * file. Prints the recoveries and what the lab's invariant monitor saw: VMs destroyed more than
 * once, nodes left cordoned, etcd quorum violations.
 *
 *   node --import tsx bench/chaos.ts [--kills 10] [--preset prox-ops] [--to 1.12.0] [--parallel 3] [--seed n]
 */
import { pathToFileURL } from 'node:url';
import { Command } from 'commander';
import fc from 'fast-check';
import { markdownTable } from 'markdown-table';
import { clusterUpgrade } from '../src/workflows/index.js';
import type { ClusterUpgradeResult } from '../src/workflows/types.js';
import { labReport } from '../test/workflows/labViews.js';
import type { WorkerProcess } from '../test/worker/workerProcess.js';
import { fetchEvents, workflowTimes } from './lib/history.js';
import { clusterNameOf } from './lib/inventory.js';
import { wholeNumber } from './lib/options.js';
import { labWorkers, seconds, withStack, type Stack, type Temporal } from './lib/stack.js';

export interface ChaosOptions {
  kills: number;
  preset: string;
  to: string;
  parallel: number;
  seed: number;
  /** Random wait before each kill, after the previous worker's successor made progress. */
  gapMs: { min: number; max: number };
  log?: (line: string) => void;
}

export interface KillRecord {
  kill: number;
  atMs: number;
  /** The lab's last event before the kill: what the run was doing. */
  during: string;
  recoveredInMs?: number;
}

export interface ChaosResult {
  completed: boolean;
  outcome: string;
  wallMs: number;
  kills: KillRecord[];
  recoveries: number;
  serverRestart: { done: boolean; recoveredInMs?: number };
  vmsDestroyedTwice: string[];
  leftCordoned: string[];
  quorumViolations: number;
  otherViolations: string[];
  nodes: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const RECOVERY_TIMEOUT_MS = 240_000;

/** Whether the run moved on after `since`: an activity closed, or the run itself closed. */
async function progressedSince(temporal: Temporal, workflowId: string, since: number): Promise<boolean> {
  const events = await fetchEvents(temporal.client, workflowId);
  const run = workflowTimes(workflowId, events);
  if (run.end > since && (await isClosed(temporal, workflowId))) return true;
  if (run.activities.some((a) => a.end > since) || run.children.some((c) => c.end > since)) return true;
  const open = events
    .map((e) => e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId)
    .filter((id): id is string => !!id)
    .filter((id) => !run.children.some((c) => c.workflowId === id));
  for (const child of open) {
    const times = workflowTimes(child, await fetchEvents(temporal.client, child).catch(() => []));
    if (times.activities.some((a) => a.end > since) || times.timers.some((t) => t.end > since)) return true;
  }
  return false;
}

async function isClosed(temporal: Temporal, workflowId: string): Promise<boolean> {
  const description = await temporal.client.workflow.getHandle(workflowId).describe();
  return description.status.name !== 'RUNNING';
}

async function waitForProgress(temporal: Temporal, workflowId: string, since: number): Promise<number> {
  const deadline = Date.now() + RECOVERY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (await progressedSince(temporal, workflowId, since).catch(() => false)) return Date.now() - since;
    await sleep(1000);
  }
  throw new Error(`the run made no progress within ${RECOVERY_TIMEOUT_MS / 1000}s after a kill or restart`);
}

export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const log = options.log ?? ((line: string) => console.error(line));
  return withStack('chaos', async (stack: Stack) => {
    // The dev server is always the benchmark's own: it is restarted mid-run.
    const temporal = await stack.temporal();
    log(`Temporal dev server at ${temporal.address}; starting the ${options.preset} lab`);
    const lab = await stack.lab(options.preset, ['--max-unavailable-workers', String(options.parallel)]);
    const taskQueue = 'talos-upgrade-chaos';
    const { inventory, start: startWorker } = await labWorkers(stack, lab, temporal, {
      taskQueue,
      policy: { maxParallelWorkers: options.parallel },
    });
    let worker: WorkerProcess = await startWorker();
    const nodes = (await labReport(lab)).vms.length;
    const workflowId = `talos-upgrade:chaos:${Date.now().toString(36)}`;
    const started = Date.now();
    const handle = await temporal.client.workflow.start(clusterUpgrade, {
      taskQueue,
      workflowId,
      args: [
        {
          requestId: 'chaos',
          cluster: await clusterNameOf(inventory),
          talos: { to: options.to },
          source: 'bench/chaos',
        },
      ],
    });
    let finished: ClusterUpgradeResult | undefined;
    let failure: string | undefined;
    const done = handle.result().then(
      (r) => (finished = r),
      (e: unknown) => (failure = e instanceof Error ? (e.cause?.toString() ?? e.message) : String(e)),
    );

    const gaps = fc.sample(fc.noBias(fc.integer(options.gapMs)), {
      seed: options.seed,
      numRuns: options.kills,
    });
    const kills: KillRecord[] = [];
    const serverRestart: ChaosResult['serverRestart'] = { done: false };
    const restartAfter = Math.ceil(options.kills / 2);
    for (const [index, gap] of gaps.entries()) {
      await Promise.race([sleep(gap), done]);
      if (finished || failure) break;
      const timeline = (await labReport(lab)).timeline;
      const last = timeline.at(-1);
      const record: KillRecord = {
        kill: index + 1,
        atMs: Date.now() - started,
        during: last ? `${last.kind}${last.node ? ` ${last.node}` : ''}` : '-',
      };
      kills.push(record);
      worker.child.kill('SIGKILL');
      await worker.child;
      const killedAt = Date.now();
      log(`kill ${record.kill}/${options.kills} at ${seconds(record.atMs)}s (during ${record.during})`);
      worker = await startWorker();
      record.recoveredInMs = await waitForProgress(temporal, workflowId, killedAt);
      log(`  recovered in ${seconds(record.recoveredInMs)}s`);
      if (record.kill === restartAfter && temporal.restart) {
        log('restarting the Temporal dev server on the same database file');
        await temporal.restart();
        const restartedAt = Date.now();
        serverRestart.done = true;
        serverRestart.recoveredInMs = await waitForProgress(temporal, workflowId, restartedAt);
        log(`  the run went on ${seconds(serverRestart.recoveredInMs)}s after the restart`);
      }
    }
    await done;
    const report = await labReport(lab);
    const result: ChaosResult = {
      completed: finished?.outcome === 'succeeded',
      outcome: finished?.outcome ?? `failed: ${failure ?? 'unknown'}`,
      wallMs: Date.now() - started,
      kills,
      recoveries: kills.filter((k) => k.recoveredInMs !== undefined).length,
      serverRestart,
      vmsDestroyedTwice: report.vms
        .filter((vm) => vm.destroyed > 1)
        .map((vm) => `${vm.node} (${vm.destroyed}×)`),
      leftCordoned: report.finalChecks.cordoned,
      quorumViolations: report.violations.filter((v) => v.invariant === 'etcd-quorum').length,
      otherViolations: report.violations
        .filter((v) => v.invariant !== 'etcd-quorum')
        .map((v) => `${v.invariant}: ${v.detail}`),
      nodes,
    };
    return result;
  });
}

/** The two tables the chaos run prints: each kill, then the verdict. */
export function chaosTables(options: ChaosOptions, result: ChaosResult): string {
  const perKill = markdownTable(
    [
      ['kill', 'at (s into the run)', 'the lab was doing', 'progress again after (s)'],
      ...result.kills.map((k) => [
        String(k.kill),
        seconds(k.atMs),
        k.during,
        k.recoveredInMs === undefined ? 'never' : seconds(k.recoveredInMs),
      ]),
    ],
    { align: ['r', 'r', 'l', 'r'] },
  );
  const verdict = markdownTable(
    [
      ['figure', 'value'],
      [
        'cluster, nodes',
        `${options.preset}, ${result.nodes} (cattle to ${options.to}, ${options.parallel} workers at a time)`,
      ],
      ['runs completed', `${result.completed ? 1 : 0}/1 (${result.outcome})`],
      ['worker SIGKILLs / recoveries', `${result.kills.length} / ${result.recoveries}`],
      [
        'dev server restarts (same database)',
        result.serverRestart.done
          ? `1, run went on after ${seconds(result.serverRestart.recoveredInMs ?? 0)}s`
          : '0 (the run ended first)',
      ],
      [
        'VMs destroyed more than once',
        `${result.vmsDestroyedTwice.length}${result.vmsDestroyedTwice.length ? `: ${result.vmsDestroyedTwice.join(', ')}` : ''}`,
      ],
      [
        'nodes left cordoned',
        `${result.leftCordoned.length}${result.leftCordoned.length ? `: ${result.leftCordoned.join(', ')}` : ''}`,
      ],
      ['etcd quorum violations', String(result.quorumViolations)],
      [
        'other invariant violations',
        `${result.otherViolations.length}${result.otherViolations.length ? `: ${result.otherViolations.join('; ')}` : ''}`,
      ],
      ['wall time', `${seconds(result.wallMs)} s`],
    ],
    { align: ['l', 'l'] },
  );
  return `${perKill}\n\n${verdict}\n`;
}

async function main(): Promise<void> {
  const program = new Command('bench/chaos')
    .description('a cattle upgrade on the lab while the worker is killed and the dev server restarted')
    .option('--kills <k>', 'worker SIGKILLs at random moments', wholeNumber(0), 10)
    .option('--preset <name>', 'lab preset', 'prox-ops')
    .option('--to <version>', 'Talos version to upgrade to (a minor: cattle)', '1.12.0')
    .option('--parallel <n>', 'maxParallelWorkers', wholeNumber(0), 3)
    .option('--seed <n>', 'seed of the random kill moments', wholeNumber(0), Date.now() % 100_000)
    .parse();
  const opts = program.opts<{ kills: number; preset: string; to: string; parallel: number; seed: number }>();
  const options: ChaosOptions = { ...opts, gapMs: { min: 2000, max: 15_000 } };
  console.error(`chaos: ${options.kills} kills, seed ${options.seed}`);
  const result = await runChaos(options);
  console.log(chaosTables(options, result));
  const clean =
    result.completed &&
    result.recoveries === result.kills.length &&
    result.vmsDestroyedTwice.length === 0 &&
    result.leftCordoned.length === 0 &&
    result.quorumViolations === 0;
  process.exitCode = clean ? 0 : 1;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
