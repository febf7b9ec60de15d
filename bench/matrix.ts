/**
 * The fault matrix: an operator's cancel, a terminated cluster run and a SIGKILLed worker, for pets
 * and cattle, during planning, the approval wait, pre-flight and the templates, at every step of a
 * control plane's run, during its compensation, and at the world-changing step of a controller and a
 * worker (bench/lib/matrixCells.ts lists the cells). After each cell: nothing cordoned, every VM
 * running and Ready, no install staged, no invariant broken (etcd quorum above all), no Terraform lock
 * left, the run's outcome and the node's as they must be, and the operator told (the notification
 * the run or, after a terminate, the orphaned node run sends). One row per cell; exits 1 when a cell fails.
 *
 *   node --import tsx bench/matrix.ts [--preset atlas] [--strategy pets|cattle]
 */
import { access } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { WorkflowNotFoundError, type WorkflowHandle } from '@temporalio/client';
import { Command, Option } from 'commander';
import { markdownTable } from 'markdown-table';
import type { Strategy } from '../src/domain/index.js';
import { clusterUpgrade, type nodeUpgrade } from '../src/workflows/index.js';
import { nodeProgressQuery, progressQuery, rejectUpdate } from '../src/workflows/signals.js';
import type { Lab } from '../test/lab/labHarness.js';
import { labReport, labStatus, type LabStatusRow } from '../test/workflows/labViews.js';
import type { WorkerProcess } from '../test/worker/workerProcess.js';
import { clusterNameOf } from './lib/inventory.js';
import { MATRIX_HOPS, momentLabel, type Cell, type MatrixHop } from './lib/matrixCells.js';
import { noticeLabel, startNoticeReceiver, type Notice } from './lib/notices.js';
import { labWorkers, seconds, withStack, type Temporal } from './lib/stack.js';

export interface CellResult {
  strategy: string;
  role: string;
  moment: string;
  action: string;
  /** Where the run really was when the action came: its phase, or the node's step. */
  actedAt: string;
  node: string;
  /** The run's outcome (or TERMINATED) and the node run's (or `not started`). */
  run: string;
  nodeRun: string;
  notices: string[];
  problems: string[];
  /** Of the problems, those of the lab's state after the cell: they must hold whenever the action came. */
  labProblems: string[];
  wallMs: number;
  /** A step cell whose first look found its node past the step: the action landed elsewhere. */
  missed?: string;
}

const NODE = { controlplane: 'talos-cp-1', worker: 'talos-wk-1' } as const;
const STEP_TIMEOUT_MS = 600_000;
/**
 * How long a run may take to end after the cell's action. Cells take seconds; a run whose node waits
 * for an operator (CompensationStuck) never ends, and waiting for it cost one bad cell the suite's
 * whole timeout, with no table printed.
 */
const OUTCOME_TIMEOUT_MS = 300_000;

/** How long a Terraform run still going after the cell's action may hold the state lock (see lockLeft). */
const LOCK_SETTLE_MS = 60_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until<T>(what: string, probe: () => Promise<T | undefined>, everyMs = 500): Promise<T> {
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    await sleep(everyMs);
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function status(temporal: Temporal, workflowId: string): Promise<string> {
  return (await temporal.client.workflow.getHandle(workflowId).describe()).status.name;
}

/** A closed run's status, waiting while it runs; `not started` for a node run that never began. */
async function closedStatus(temporal: Temporal, workflowId: string): Promise<string> {
  return until(`${workflowId} to close`, async () => {
    const name = await status(temporal, workflowId).catch((error: unknown) => {
      if (error instanceof WorkflowNotFoundError) return 'not started';
      throw error;
    });
    return name === 'RUNNING' ? undefined : name;
  });
}

/** What must hold after every cell, whatever happened in it. */
async function settledProblems(
  lab: Lab,
  rows: LabStatusRow[],
  since: string,
  terraformDir: string,
): Promise<string[]> {
  const problems: string[] = [];
  for (const row of rows) {
    if (row.cordoned) problems.push(`${row.node} cordoned`);
    if (row.vm !== 'running' || !row.ready) problems.push(`${row.node} ${row.vm}, ready ${row.ready}`);
    if (row.staged) problems.push(`${row.node} has ${row.staged} staged for its next boot`);
  }
  for (const v of (await labReport(lab)).violations.filter((v) => v.at >= since))
    problems.push(`${v.invariant}: ${v.detail}`);
  if (await lockLeft(join(terraformDir, '.terraform.tfstate.lock.info')))
    problems.push('Terraform state lock left');
  return problems;
}

/**
 * Whether the state lock is still there once a Terraform run in flight has had time to end: a
 * terminated run's template build goes on in its worker and lets go of the lock a moment after the
 * run closed. Only a lock that outlasts that is left behind (the check once read the lab through a
 * `talos-lab` process, seconds that hid the wait; reading the lab's API, it came first).
 */
async function lockLeft(lock: string): Promise<boolean> {
  const exists = () =>
    access(lock).then(
      () => true,
      () => false,
    );
  const deadline = Date.now() + LOCK_SETTLE_MS;
  while (await exists()) {
    if (Date.now() >= deadline) return true;
    await sleep(250);
  }
  return false;
}

/** The notice an operator must get for how the cell ended, checked against what arrived. */
function noticeProblems(run: string, nodeRun: string, node: string, notices: Notice[]): string[] {
  const complete = notices.filter((n) => n.event === 'complete').map((n) => n.outcome);
  if (run !== 'TERMINATED')
    return complete.includes(run)
      ? []
      : [`no "complete ${run}" notice (got: ${complete.join(', ') || 'none'})`];
  if (complete.length) return [`a terminated run sent "complete ${complete.join(', ')}"`];
  // Terminated: only a node run it cancelled can still tell, and must.
  if (nodeRun !== 'CANCELLED') return [];
  const told = notices.some(
    (n) => n.event === 'rollback' && n.node === node && /terminated/.test(n.reason ?? ''),
  );
  return told ? [] : [`no rollback notice for ${node} from its orphaned node run`];
}

interface MatrixContext {
  temporal: Temporal;
  lab: Lab;
  cluster: string;
  terraformDir: string;
  notices: Awaited<ReturnType<typeof startNoticeReceiver>>;
  /** The worker of each task queue, replaced when a cell kills it. */
  workers: Map<string, { process: WorkerProcess; start: () => Promise<WorkerProcess> }>;
}

async function restartWorker(ctx: MatrixContext, taskQueue: string): Promise<void> {
  const worker = ctx.workers.get(taskQueue);
  if (!worker) throw new Error(`no worker on ${taskQueue}`);
  worker.process.child.kill('SIGKILL');
  await worker.process.child.catch(() => undefined);
  worker.process = await worker.start();
}

/** Waits for the cell's moment; returns where the run really was when it came. */
async function reachMoment(
  ctx: MatrixContext,
  hop: MatrixHop,
  cell: Cell,
  handle: WorkflowHandle<typeof clusterUpgrade>,
  nodeRunId: string,
  mark: number,
): Promise<string> {
  const { moment } = cell;
  const node = NODE[cell.role];
  const nodeHandle = ctx.temporal.client.workflow.getHandle<typeof nodeUpgrade>(nodeRunId);
  const lastStep = async () => (await nodeHandle.query(nodeProgressQuery)).step;
  switch (moment.at) {
    case 'phase': {
      // Planning is the first phase: acting as soon as the run answers catches it in the middle. Pre-flight
      // runs before the approval wait (and again after it).
      const order = ['Planning', 'PreFlight', 'AwaitingApproval', 'EtcdSnapshot', 'RebuildingTemplates'];
      return until(
        moment.phase,
        async () => {
          const { phase } = await handle.query(progressQuery);
          const reached = order.indexOf(phase) >= order.indexOf(moment.phase) || !order.includes(phase);
          return reached ? phase : undefined;
        },
        100,
      );
    }
    case 'step': {
      const reached = await until(
        `step ${moment.index} on ${node}`,
        async () => {
          // A node run already closed is past every step (the local post-upgrade gate can be over before
          // the first look); a query on a closed run answers with the state it started with.
          if ((await nodeHandle.describe()).status.name !== 'RUNNING')
            return { index: moment.index, step: 'done' };
          const progress = await nodeHandle.query(nodeProgressQuery);
          return progress.index >= moment.index ? progress : undefined;
        },
        100,
      );
      // The cells name their steps: a workflow whose steps moved must fail here, not act elsewhere.
      // "done" is the node past its last step.
      if (reached.index === moment.index && reached.step !== moment.name && reached.step !== 'done')
        throw new Error(
          `step ${moment.index} on ${node} is "${reached.step}"; the cell expects "${moment.name}"`,
        );
      // The short steps are often over before the first look: the action then lands at a later step,
      // which still tests a cancel, terminate or restart in the node's run. Not so past the node's last
      // wait, where it could finish before the action (and every later cell find it upgraded): nor for
      // a restart during the stabilisation, which outlasts it (CI and a local run on 2026-11-27 first
      // saw step 11 of a step-7 SIGKILL cell). Then the run is cancelled at once (its node rolls back)
      // and the cell tried once more.
      const last = ['uncordoning', 'health checks', 'done'];
      const late =
        last.includes(reached.step) || (reached.step === 'stabilising' && cell.action === 'sigkill');
      if (reached.index > moment.index && late)
        throw new MissedStep(
          `the first look found ${node} at step ${reached.index} (${reached.step}), past step ${moment.index}`,
        );
      return `${reached.index}: ${reached.step}`;
    }
    case 'change':
    case 'undo': {
      await until(`${hop.change} on ${node}`, async () =>
        (await labReport(ctx.lab)).timeline.slice(mark).some((e) => e.kind === hop.change && e.node === node)
          ? true
          : undefined,
      );
      if (moment.at === 'change') return await lastStep().catch(() => hop.change);
      // The undo: an operator's cancel, then the action once the node is rolling back.
      await handle.cancel();
      await until(
        `${node} rolling back`,
        async () =>
          (await nodeHandle.describe()).searchAttributes.UpgradePhase?.[0] === 'RollingBack'
            ? true
            : undefined,
        100,
      );
      return 'undo';
    }
  }
}

/** The cell's action and what the run did after it: its outcome, or TERMINATED. */
async function act(
  ctx: MatrixContext,
  cell: Cell,
  handle: WorkflowHandle<typeof clusterUpgrade>,
  nodeRunId: string,
  taskQueue: string,
): Promise<string> {
  const outcome = () => outcomeWithin(ctx, handle, nodeRunId);
  if (cell.action === 'terminate') {
    await handle.terminate('bench/matrix: the operator terminates the run');
    return closedStatus(ctx.temporal, handle.workflowId);
  }
  if (cell.action === 'cancel') {
    await handle.cancel();
    return outcome();
  }
  await restartWorker(ctx, taskQueue);
  const { moment } = cell;
  if (moment.at === 'undo') return outcome();
  if (moment.at === 'change') {
    if (cell.role === 'worker') return outcome();
    // The node finishes on the new worker; the run is then cancelled before the next node.
    await closedStatus(ctx.temporal, nodeRunId);
    await handle.cancel();
    return outcome();
  }
  if (moment.at === 'phase' && moment.phase === 'AwaitingApproval') {
    // The wait survived the worker: the new one answers the operator's reject.
    await handle.executeUpdate(rejectUpdate, { args: [{ by: 'bench/matrix', reason: 'the matrix' }] });
    return outcome();
  }
  // The new worker carries on (a later phase; the step picked up in the middle or a later one), then the
  // operator cancels. A run that ends first is said by the checks (a node run that completed, see
  // nodeProblems). The cancel goes as soon as the new worker has started the step's activity again: a
  // cancel sent only once the node had moved past the step came after the node's last wait on a loaded
  // CI machine (2026-11-26, step 7 of the pets control plane), and every later cell found it upgraded.
  const nodeHandle = ctx.temporal.client.workflow.getHandle<typeof nodeUpgrade>(nodeRunId);
  const newWorker = `${ctx.workers.get(taskQueue)?.process.child.pid ?? '?'}@`;
  await until(
    'the new worker to carry on',
    async () => {
      if ((await status(ctx.temporal, handle.workflowId)) !== 'RUNNING') return true;
      if (moment.at === 'phase')
        return (await handle.query(progressQuery)).phase !== moment.phase || undefined;
      const { raw } = await nodeHandle.describe();
      if (raw.pendingActivities?.some((a) => a.lastWorkerIdentity?.startsWith(newWorker))) return true;
      return (await nodeHandle.query(nodeProgressQuery)).index > moment.index || undefined;
    },
    100,
  );
  await handle.cancel().catch(() => undefined);
  return outcome();
}

class RunDidNotEnd extends Error {}
class MissedStep extends Error {}

/** The run's outcome, or RunDidNotEnd naming where its node stands when it has none in time. */
async function outcomeWithin(
  ctx: MatrixContext,
  handle: WorkflowHandle<typeof clusterUpgrade>,
  nodeRunId: string,
): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>(
    (resolve) => (timer = setTimeout(() => resolve('late'), OUTCOME_TIMEOUT_MS)),
  );
  try {
    const result = await Promise.race([handle.result(), late]);
    if (result !== 'late') return result.outcome;
  } finally {
    clearTimeout(timer);
  }
  const nodeHandle = ctx.temporal.client.workflow.getHandle<typeof nodeUpgrade>(nodeRunId);
  const where = await nodeHandle
    .query(nodeProgressQuery)
    .then((p) => `its node run at step ${p.index} (${p.step})`)
    .catch(() => 'its node run not answering');
  throw new RunDidNotEnd(`the run did not end within ${OUTCOME_TIMEOUT_MS / 60_000} min, ${where}`);
}

/** How a run the cell did not see to its end ended: its outcome, or its status when it has none. */
async function endedAs(temporal: Temporal, handle: WorkflowHandle<typeof clusterUpgrade>): Promise<string> {
  const name = await status(temporal, handle.workflowId).catch(() => 'unknown');
  if (name !== 'COMPLETED') return name;
  return (await handle.result()).outcome;
}

async function runCell(
  ctx: MatrixContext,
  hop: MatrixHop,
  cell: Cell,
  taskQueue: string,
  attempt = 1,
): Promise<CellResult> {
  const { temporal, lab } = ctx;
  const node = NODE[cell.role];
  const started = Date.now();
  const since = new Date(started).toISOString();
  // The lab's timeline is read only by the cells that wait for a world-changing step in it.
  const mark =
    cell.moment.at === 'change' || cell.moment.at === 'undo' ? (await labReport(lab)).timeline.length : 0;
  const moment = momentLabel(cell.moment, hop.change);
  const label = moment.replace(/[^a-z0-9]+/gi, '-').toLowerCase();
  const requestId = `matrix-${hop.strategy}-${cell.role}-${label}-${cell.action}${attempt > 1 ? `-${attempt}` : ''}`;
  const row = (fields: Pick<CellResult, 'actedAt' | 'run' | 'nodeRun' | 'problems' | 'labProblems'>) => ({
    strategy: hop.strategy,
    role: cell.role,
    moment,
    action: cell.action,
    node,
    notices: [],
    wallMs: Date.now() - started,
    ...fields,
  });
  const notStarted = (problem: string) =>
    row({ actedAt: '', run: 'not started', nodeRun: 'not started', problems: [problem], labProblems: [] });
  // A cell starts from the hop's start (a phase cell: every node; a step cell: its own node). One that
  // finds a node moved (an earlier cell's or attempt's run went on to finish it) fails at once rather
  // than wait out its timeouts on a node with nothing left to do.
  const before = await labStatus(lab).catch((error: unknown) => error as Error);
  if (before instanceof Error) return notStarted(`the lab's status could not be read: ${before.message}`);
  const moved = before.filter((r) => (cell.moment.at === 'phase' || r.node === node) && r.talos !== hop.from);
  if (moved.length)
    return notStarted(
      `not on the hop's start ${hop.from}: ${moved.map((r) => `${r.node} on ${r.talos}`).join(', ')}`,
    );
  const workflowId = `talos-upgrade:${ctx.cluster}:${requestId}`;
  const nodeRunId = `${workflowId}:node:${node}:${hop.to}`;
  const handle = await temporal.client.workflow.start(clusterUpgrade, {
    taskQueue,
    workflowId,
    args: [
      {
        requestId,
        cluster: ctx.cluster,
        talos: { to: hop.to },
        strategy: hop.strategy,
        source: 'bench/matrix',
        // A worker's cancel or terminate needs no controller upgraded before it (three of them were
        // two thirds of those cells' time); the worker's SIGKILL cell runs the whole hop, since the
        // next hop starts where it ends.
        ...(cell.role === 'worker' && expectedOutcome(cell) !== 'succeeded' ? { nodes: [node] } : {}),
      },
    ],
  });
  const problems: string[] = [];
  let run = '';
  let actedAt = '';
  let missed: string | undefined;
  try {
    actedAt = await reachMoment(ctx, hop, cell, handle, nodeRunId, mark);
    run = await act(ctx, cell, handle, nodeRunId, taskQueue);
    const expected = cell.action === 'terminate' ? 'TERMINATED' : expectedOutcome(cell);
    if (run !== expected) problems.push(`run ended ${run}, not ${expected}`);
  } catch (error) {
    problems.push(error instanceof Error ? error.message : String(error));
    if (error instanceof MissedStep) missed = error.message;
    // An operator's cancel stops the run where it is (its node rolls back): left going, it would finish
    // the hop and every later cell would find its node already upgraded. Not the cell whose run must
    // finish the hop: the next hop starts where that run ends.
    if (expectedOutcome(cell) !== 'succeeded') await handle.cancel().catch(() => undefined);
    // A run that did not end waits for an operator: terminated, with its node run, so the next
    // cells do not wait on it too (they fail at once if the cell left its node moved).
    if (error instanceof RunDidNotEnd)
      for (const id of [workflowId, nodeRunId])
        await temporal.client.workflow
          .getHandle(id)
          .terminate('bench/matrix: the cell failed and its run did not end')
          .catch(() => undefined);
  }
  const nodeRun = await closedStatus(temporal, nodeRunId).catch(() => 'not closed');
  // Every node run of this cell closed before the checks.
  await until('the run to close', async () =>
    (await status(temporal, workflowId)) === 'RUNNING' ? undefined : true,
  ).catch(() => problems.push('the run did not close'));
  run ||= await endedAs(temporal, handle).catch(() => 'unknown');
  const rows = await labStatus(lab);
  problems.push(...(await nodeProblems(ctx, hop, cell, nodeRunId, nodeRun, rows)));
  const notices = ctx.notices.since(started);
  problems.push(...noticeProblems(run, nodeRun, node, notices));
  const labProblems = await settledProblems(lab, rows, since, ctx.terraformDir);
  problems.push(...labProblems);
  // A failed cell says why a node rolled back: a CI log is all a failure leaves behind.
  if (problems.length > 0)
    for (const n of notices)
      if (n.reason || (n.event === 'critical' && n.message))
        problems.push(`told: ${noticeLabel(n)}: ${n.reason ?? n.message}`);
  return {
    ...row({ actedAt, run, nodeRun, problems, labProblems }),
    ...(missed ? { missed } : {}),
    notices: notices.filter((n) => n.event !== 'start' && n.event !== 'approval').map(noticeLabel),
  };
}

/** A phase cell whose action landed after the run had left that phase (not one that never got there). */
function missedPhase(cell: Cell, row: CellResult): boolean {
  return cell.moment.at === 'phase' && row.actedAt !== '' && row.actedAt !== cell.moment.phase;
}

/** A worker's run goes on to the end after its worker dies; a rejected approval ends `rejected`. */
function expectedOutcome(cell: Cell): string {
  if (cell.action === 'sigkill' && cell.moment.at === 'change' && cell.role === 'worker') return 'succeeded';
  if (cell.action === 'sigkill' && cell.moment.at === 'phase' && cell.moment.phase === 'AwaitingApproval')
    return 'rejected';
  return 'cancelled';
}

/** The node's own run: finished on the new version, or undone back to the hop's start. */
async function nodeProblems(
  ctx: MatrixContext,
  hop: MatrixHop,
  cell: Cell,
  nodeRunId: string,
  nodeRun: string,
  rows: LabStatusRow[],
): Promise<string[]> {
  const problems: string[] = [];
  const node = NODE[cell.role];
  const finishes = cell.action === 'sigkill' && cell.moment.at === 'change';
  if (finishes && nodeRun !== 'COMPLETED') problems.push(`node run ${nodeRun}`);
  if (!finishes && nodeRun === 'COMPLETED') {
    // The action took effect after the node had finished: the cell tested no moment of the node, and
    // every later cell of the hop finds that node moved. Said here, not only by those later cells (a
    // CI run on 2026-11-25 reported six cells after the one whose cancel came late).
    const result = await ctx.temporal.client.workflow.getHandle<typeof nodeUpgrade>(nodeRunId).result();
    const action =
      cell.action === 'sigkill' ? "the operator's cancel after the restart" : `the ${cell.action}`;
    problems.push(`the node run completed (${result.outcome}) before ${action} took effect`);
  }
  if (nodeRun === 'CANCELLED' || nodeRun === 'FAILED') {
    const talos = rows.find((row) => row.node === node)?.talos;
    if (talos !== hop.from) problems.push(`${node} on ${talos ?? '?'} after its undo, not ${hop.from}`);
  }
  if (cell.moment.at === 'phase' && (cell.action !== 'sigkill' || cell.moment.phase === 'AwaitingApproval')) {
    if (nodeRun !== 'not started') problems.push(`a node run started (${nodeRun})`);
    const moved = rows.filter((row) => row.talos !== hop.from).map((row) => row.node);
    if (moved.length) problems.push(`touched before any node: ${moved.join(', ')}`);
  }
  return problems;
}

/**
 * Runs the cells of every hop, or of one strategy's hop only. Its lab starts at the first hop's
 * version (the cattle hop's on its own: where the pets hop ends), so the two hops can run as two
 * suites side by side, each on its own lab.
 */
export async function runMatrix(options: {
  preset: string;
  strategy?: Strategy;
  log?: (line: string) => void;
}) {
  const log = options.log ?? ((line: string) => console.error(line));
  const hops = MATRIX_HOPS.filter((hop) => !options.strategy || hop.strategy === options.strategy);
  const [first] = hops;
  if (!first) throw new Error(`no hop of the fault matrix is ${options.strategy}`);
  return withStack('matrix', async (stack) => {
    const temporal = await stack.temporal();
    log(`Temporal dev server at ${temporal.address}; starting the ${options.preset} lab`);
    // A template build of 1 s: the lab's default (none) let RebuildingTemplates pass between two of the
    // progress queries the phase cells wait with (a clean-clone run on 2026-11-25 missed it twice).
    // Reboots of 6 s (3 by default), and Nodes Ready 8 s after a boot (at once by default): the SIGKILL
    // meant for "waiting for Ready" came when the node was already stabilising (before Talos 1.13 the
    // reboot is waited for inside the upgrade step, so without the kubelet's delay the wait for Ready
    // is over at once), and its run could end before the cancel that follows.
    const lab = await stack.lab(options.preset, [
      ...['--talos', first.from],
      ...['--template-build-seconds', '1', '--reboot-seconds', '6', '--kubelet-ready-seconds', '8'],
    ]);
    const notices = await startNoticeReceiver(stack);
    // A control plane's last wait is its stabilisation. The tests' 1 s let a cancel meant for the etcd
    // member's wait land after the node had finished, on a loaded CI machine (a query to see the step,
    // the cancel, its way down to the node run). 5 s was missed too (CI, 2026-11-27: the step-10 cancel
    // came after it, and the six cells after it found talos-cp-1 upgraded); 15 s costs only the few
    // control planes that finish (some 30 s a run).
    const stabilisation = '15s';
    const main = await labWorkers(stack, lab, temporal, {
      taskQueue: 'talos-upgrade-matrix',
      notifications: [notices.target],
      policy: { stabilisation },
    });
    // The approval wait needs a run that asks for one: a second worker whose policy approves patches.
    const approval = await labWorkers(stack, lab, temporal, {
      taskQueue: 'talos-upgrade-matrix-approval',
      notifications: [notices.target],
      policy: { stabilisation, approval: { patch: true } },
      suffix: 'approval',
    });
    const ctx: MatrixContext = {
      temporal,
      lab,
      cluster: await clusterNameOf(main.inventory),
      terraformDir: join(dirname(lab.env.TALOS_UPGRADE_INVENTORY ?? ''), 'terraform'),
      notices,
      workers: new Map([['talos-upgrade-matrix', { process: await main.start(), start: main.start }]]),
    };
    const results: CellResult[] = [];
    for (const hop of hops) {
      for (const cellOfHop of hop.cells) {
        const cell: Cell = { ...cellOfHop, strategy: hop.strategy };
        const waitsForApproval = cell.moment.at === 'phase' && cell.moment.phase === 'AwaitingApproval';
        const taskQueue = waitsForApproval ? 'talos-upgrade-matrix-approval' : 'talos-upgrade-matrix';
        if (waitsForApproval && !ctx.workers.has(taskQueue))
          ctx.workers.set(taskQueue, { process: await approval.start(), start: approval.start });
        log(`${hop.strategy} ${cell.role} ${momentLabel(cell.moment, hop.change)} ${cell.action}`);
        let row = await runCell(ctx, hop, cell, taskQueue);
        if (missedPhase(cell, row) || row.missed) {
          // The lab's phase lasted less than the 100 ms between two queries (or a step cell's first
          // look came late): the action landed later and the cell tested another moment. A fresh run
          // tries once more; a second miss is reported. The first run's lab state must have been safe
          // all the same (a missed step's run was cancelled: its node is back on the hop's start).
          log(`  missed ${row.moment} (${row.missed ?? `acted at ${row.actedAt}`}): once more`);
          const first = row;
          row = await runCell(ctx, hop, cell, taskQueue, 2);
          row.problems.push(...first.labProblems.map((p) => `first run: ${p}`));
          if (missedPhase(cell, row)) row.problems.push(`acted at ${row.actedAt}, twice after ${row.moment}`);
        }
        results.push(row);
        log(
          `  at ${row.actedAt}: ${row.problems.length ? `FAIL: ${row.problems.join('; ')}` : 'ok'} (${seconds(row.wallMs)} s)`,
        );
      }
    }
    return results;
  });
}

export function matrixTable(results: CellResult[]): string {
  return markdownTable([
    ['strategy', 'role', 'moment', 'action', 'acted at', 'run', 'node run', 'notices', 'checks', 'wall (s)'],
    ...results.map((r) => [
      r.strategy,
      `${r.role} ${r.node}`,
      r.moment,
      r.action,
      r.actedAt,
      r.run,
      r.nodeRun,
      r.notices.join(', ') || 'none',
      r.problems.length ? r.problems.join('; ') : 'ok',
      seconds(r.wallMs),
    ]),
  ]);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const options = new Command('matrix')
    .option('--preset <preset>', 'the lab preset (its nodes talos-cp-1 and talos-wk-1)', 'atlas')
    .addOption(
      new Option(
        '--strategy <strategy>',
        "only that strategy's hop, its lab starting at the hop's version",
      ).choices(['pets', 'cattle']),
    )
    .parse()
    .opts<{ preset: string; strategy?: Strategy }>();
  const results = await runMatrix({
    preset: options.preset,
    strategy: options.strategy,
  });
  console.log(matrixTable(results));
  process.exitCode = results.every((r) => r.problems.length === 0) ? 0 : 1;
}
