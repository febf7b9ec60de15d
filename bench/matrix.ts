/**
 * The fault matrix: for pets and cattle, a control-plane node and a worker, an operator's cancel, a
 * terminated cluster run and a SIGKILLed worker while the node's world-changing step runs (the
 * Talos upgrade for pets, the VM destroy for cattle). After each cell: nothing cordoned, every VM
 * running and Ready, no invariant broken (etcd quorum above all), no Terraform lock left, and the
 * run's outcome and the node's as they must be. One row per cell; exits 1 when a cell fails.
 *
 *   node --import tsx bench/matrix.ts [--preset atlas]
 */
import { access } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command } from 'commander';
import { markdownTable } from 'markdown-table';
import type { Strategy } from '../src/domain/index.js';
import { clusterUpgrade, type nodeUpgrade } from '../src/workflows/index.js';
import type { Lab } from '../test/lab/labHarness.js';
import { labReport, labStatus } from '../test/workflows/labViews.js';
import type { WorkerProcess } from '../test/worker/workerProcess.js';
import { clusterNameOf } from './lib/inventory.js';
import { labWorkers, seconds, withStack, type Temporal } from './lib/stack.js';

type Action = 'cancel' | 'terminate' | 'sigkill';
type Role = 'controlplane' | 'worker';

interface Cell {
  strategy: Strategy;
  role: Role;
  action: Action;
}

export interface CellResult extends Cell {
  node: string;
  /** The run's outcome (or TERMINATED) and the node run's. */
  run: string;
  nodeRun: string;
  problems: string[];
  wallMs: number;
}

const HOPS: Array<{ strategy: Strategy; from: string; to: string; trigger: string }> = [
  { strategy: 'pets', from: '1.11.3', to: '1.11.4', trigger: 'upgrade-started' },
  { strategy: 'cattle', from: '1.11.4', to: '1.12.0', trigger: 'vm-destroyed' },
];
// In this order the cluster stays on the hop's start for every cell but the last, which completes it.
const CELLS: Array<Pick<Cell, 'role' | 'action'>> = [
  { role: 'controlplane', action: 'cancel' },
  { role: 'controlplane', action: 'terminate' },
  { role: 'controlplane', action: 'sigkill' },
  { role: 'worker', action: 'cancel' },
  { role: 'worker', action: 'terminate' },
  { role: 'worker', action: 'sigkill' },
];
const NODE: Record<Role, string> = { controlplane: 'talos-cp-1', worker: 'talos-wk-1' };
const STEP_TIMEOUT_MS = 600_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    await sleep(500);
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function status(temporal: Temporal, workflowId: string): Promise<string> {
  return (await temporal.client.workflow.getHandle(workflowId).describe()).status.name;
}

async function closedStatus(temporal: Temporal, workflowId: string): Promise<string> {
  return until(`${workflowId} to close`, async () => {
    const name = await status(temporal, workflowId);
    return name === 'RUNNING' ? undefined : name;
  });
}

/** What must hold after every cell, whatever happened in it. */
async function settledProblems(lab: Lab, since: string, terraformDir: string): Promise<string[]> {
  const problems: string[] = [];
  for (const row of await labStatus(lab)) {
    if (row.cordoned) problems.push(`${row.node} cordoned`);
    if (row.vm !== 'running' || !row.ready) problems.push(`${row.node} ${row.vm}, ready ${row.ready}`);
  }
  for (const v of (await labReport(lab)).violations.filter((v) => v.at >= since))
    problems.push(`${v.invariant}: ${v.detail}`);
  const lock = join(terraformDir, '.terraform.tfstate.lock.info');
  if (
    await access(lock).then(
      () => true,
      () => false,
    )
  )
    problems.push('Terraform state lock left');
  return problems;
}

export async function runMatrix(options: { preset: string; log?: (line: string) => void }) {
  const log = options.log ?? ((line: string) => console.error(line));
  return withStack('matrix', async (stack) => {
    const temporal = await stack.temporal();
    log(`Temporal dev server at ${temporal.address}; starting the ${options.preset} lab`);
    const lab = await stack.lab(options.preset, []);
    const taskQueue = 'talos-upgrade-matrix';
    const { inventory, start: startWorker } = await labWorkers(stack, lab, temporal, { taskQueue });
    const terraformDir = join(dirname(lab.env.TALOS_UPGRADE_INVENTORY ?? ''), 'terraform');
    const cluster = await clusterNameOf(inventory);
    let worker: WorkerProcess = await startWorker();
    const results: CellResult[] = [];

    for (const hop of HOPS) {
      for (const { role, action } of CELLS) {
        const cell: Cell = { strategy: hop.strategy, role, action };
        const node = NODE[role];
        const started = Date.now();
        const since = new Date().toISOString();
        const mark = (await labReport(lab)).timeline.length;
        const requestId = `matrix-${hop.strategy}-${role}-${action}`;
        const workflowId = `talos-upgrade:${cluster}:${requestId}`;
        const nodeRunId = `${workflowId}:node:${node}:${hop.to}`;
        log(`${hop.strategy} ${role} ${action}: waiting for ${hop.trigger} on ${node}`);
        const handle = await temporal.client.workflow.start(clusterUpgrade, {
          taskQueue,
          workflowId,
          args: [
            { requestId, cluster, talos: { to: hop.to }, strategy: hop.strategy, source: 'bench/matrix' },
          ],
        });
        const problems: string[] = [];
        let run = '';
        try {
          await until(`${hop.trigger} on ${node}`, async () =>
            (await labReport(lab)).timeline.slice(mark).some((e) => e.kind === hop.trigger && e.node === node)
              ? true
              : undefined,
          );
          if (action === 'cancel') {
            await handle.cancel();
            run = (await handle.result()).outcome;
            if (run !== 'cancelled') problems.push(`run ended ${run}, not cancelled`);
          } else if (action === 'terminate') {
            await handle.terminate('bench/matrix: the operator terminates the run');
            run = await closedStatus(temporal, workflowId);
          } else {
            worker.child.kill('SIGKILL');
            await worker.child.catch(() => undefined);
            worker = await startWorker();
            if (role === 'controlplane') {
              // The node finishes on the new worker; the run is then cancelled before the next node.
              await closedStatus(temporal, nodeRunId);
              await handle.cancel();
              run = (await handle.result()).outcome;
              if (run !== 'cancelled') problems.push(`run ended ${run}, not cancelled`);
            } else {
              run = (await handle.result()).outcome;
              if (run !== 'succeeded') problems.push(`run ended ${run}, not succeeded`);
            }
          }
        } catch (error) {
          problems.push(error instanceof Error ? error.message : String(error));
          run ||= await status(temporal, workflowId).catch(() => 'unknown');
        }
        const nodeRun = await closedStatus(temporal, nodeRunId).catch(() => 'not closed');
        if (action !== 'sigkill' && nodeRun === 'COMPLETED') {
          // A cancel that arrived after the node finished: it must then be on the new version.
          const result = await temporal.client.workflow.getHandle<typeof nodeUpgrade>(nodeRunId).result();
          if (result.outcome !== 'upgraded') problems.push(`node run completed ${result.outcome}`);
        }
        if (action === 'sigkill' && nodeRun !== 'COMPLETED') problems.push(`node run ${nodeRun}`);
        if (nodeRun === 'CANCELLED' || nodeRun === 'FAILED') {
          const talos = (await labStatus(lab)).find((row) => row.node === node)?.talos;
          if (talos !== hop.from) problems.push(`${node} on ${talos ?? '?'} after its undo, not ${hop.from}`);
        }
        // Every node run of this cell closed before the checks.
        await until('the run to close', async () =>
          (await status(temporal, workflowId)) === 'RUNNING' ? undefined : true,
        ).catch(() => problems.push('the run did not close'));
        problems.push(...(await settledProblems(lab, since, terraformDir)));
        const row: CellResult = { ...cell, node, run, nodeRun, problems, wallMs: Date.now() - started };
        results.push(row);
        log(`  ${problems.length ? `FAIL: ${problems.join('; ')}` : 'ok'} (${seconds(row.wallMs)} s)`);
      }
    }
    return results;
  });
}

export function matrixTable(results: CellResult[]): string {
  return markdownTable([
    ['strategy', 'role', 'action', 'node', 'run', 'node run', 'checks', 'wall (s)'],
    ...results.map((r) => [
      r.strategy,
      r.role,
      r.action,
      r.node,
      r.run,
      r.nodeRun,
      r.problems.length ? r.problems.join('; ') : 'ok',
      seconds(r.wallMs),
    ]),
  ]);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const options = new Command('matrix')
    .option('--preset <preset>', 'the lab preset (its nodes talos-cp-1 and talos-wk-1)', 'atlas')
    .parse()
    .opts<{ preset: string }>();
  const results = await runMatrix(options);
  console.log(matrixTable(results));
  process.exitCode = results.every((r) => r.problems.length === 0) ? 0 : 1;
}
