import {
  ApplicationFailure,
  CancellationScope,
  condition,
  deprecatePatch,
  log,
  patched,
  setCurrentDetails,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { DEFAULT_HEARTBEAT_TIMEOUT_MS, FAILURE, usesLifecycleApi } from '../domain/index.js';
import {
  heartbeating,
  local,
  localChecks,
  long,
  quick,
  notifications,
  undoLocal,
  type QuickActivities,
} from './activityOptions.js';
import { describeFailure, wasCancelled } from './failures.js';
import { humanDuration } from './runDetails.js';
import { Saga, type OnStuck, type StuckDecision } from './saga.js';
import { nodeProgressQuery, undoSignal, undoUpdate } from './signals.js';
import type { NodeResult, NodeUpgradeInput } from './types.js';

type Step = (name: string) => void;
type LongActivities = typeof long;

/**
 * One node's run: its input, its saga, and the activity options each kind of step uses. Histories
 * from before the settled-cancel patch replay with `long` for all three.
 */
interface NodeRun {
  input: NodeUpgradeInput;
  at: { cluster: string; node: string };
  saga: Saga;
  step: Step;
  /** Reads, the uncordon, and the cordon before the local-health-checks patch. */
  q: QuickActivities;
  /** Steps that change the world: a cancel waits until they have settled. */
  act: LongActivities;
  /** Waits for Ready (and the health gates before the local-health-checks patch). */
  wait: LongActivities;
  /** The health gates: local since the local-health-checks patch. */
  gate: Pick<LongActivities, 'runHealthChecks'>;
  /** Inside compensations: retried until they succeed, then handed to an operator. */
  undo: LongActivities;
  /** The reads and the uncordon inside compensations, with the same patience. */
  uq: QuickActivities;
  /** The install-before-drain patch: 1.13 lifecycle path, NIC and kernel-argument checks. */
  checks: boolean;
  /** The settled-cancel patch: options above, cattle's undo before `etcd leave`, stuck undos wait. */
  settled: boolean;
  /** The lean-history patch, which implies every patch before it. */
  lean: boolean;
  /** The local-health-checks patch (implies lean): local gates, the cordon inside the drain. */
  localGates: boolean;
}

/** Retired: quick reads always run as local activities (deprecated; see ORCHESTRATION_V2). */
const LOCAL_QUICK_STEPS = 'local-quick-steps';
/** Since this patch a 1.13+ node installs before its drain and every node's NICs and kernel are checked. */
const INSTALL_BEFORE_DRAIN = 'install-before-drain';
/**
 * Since this patch: steps that change the world settle before a cancel goes on, compensations retry
 * until they succeed and then wait for an operator, cattle registers its undo before `etcd leave`,
 * GPU and global patches (which may reboot a node) run as remote activities.
 */
const SETTLED_CANCEL = 'settled-cancel';
/**
 * Since this patch the etcd gate asks again before it refuses: one member that misses one status
 * call (a leader election, a slow answer) must not halt an upgrade that is hours long.
 */
const ETCD_GATE_CONFIRMS = 'etcd-gate-confirms';
/**
 * Since this patch a node run cancelled because its cluster run was closed (terminated, timed out)
 * sends the notice itself: the closed run can no longer say that this node was rolled back.
 */
const ORPHAN_NOTICE = 'orphan-notice';
/**
 * Since this patch a node run writes its phase to visibility only where an operator filters on it
 * (Upgrading, RollingBack, CompensationStuck, the outcome): each step is in the current details, the
 * progress query and the history's activities; a search-attribute write per step was 11 of a pets
 * worker's 57 events. It implies every patch above, so a new run records one patch (a marker and a
 * search-attribute write) where it recorded three to five. Every worker must run this code before
 * node runs start on it: an older worker cannot replay a lean history.
 */
const LEAN_HISTORY = 'lean-history';
/**
 * Since this patch the health gates before and after a node's upgrade run as local activities: a
 * remote activity costs six events (three of its own, a workflow task's three) and a gate is a pure
 * read, so it is one marker now. The cordon moves into the drain activity (see cordonAndDrain), so
 * that a replayed gate never sees this run's own cordon. A pets worker's history 46 → 35 events, a
 * controller's 54 → 43. It implies lean-history (and so every patch before it). As with that patch,
 * every worker must run this code before node runs start on it.
 */
const LOCAL_HEALTH_CHECKS = 'local-health-checks';
/**
 * Since this patch cattle's undo of a control plane removes the node from etcd once more after its VM
 * is destroyed, by a healthy member. Its `etcd leave` before the destroy finds nothing to leave when
 * the new VM is still booting (a cancel during its config or its wait for Ready); if that VM then
 * joined before the destroy reached it, it stayed listed as a dead member, the VM recreated at the old
 * version could not start etcd, and the cluster held 2 of 3 members (the fault matrix showed it).
 */
const GONE_MEMBER_REMOVED = 'gone-member-removed';
/**
 * A node run's workflow-task timeout: its cluster's policy.heartbeatTimeout (default 60 s), at most 60 s.
 * A local activity that outlasts 80 % of it makes the SDK renew the task (three events each time): a
 * health gate with probe pods takes tens of seconds, which at the server's default of 10 s would cost
 * more events than the local gate saves. It is also how long a worker that dies during a local step
 * holds up its node, which the heartbeat timeout already says an operator accepts for a remote one.
 */
export function nodeWorkflowTaskTimeoutMs(heartbeatTimeoutMs: number | undefined): number {
  return Math.min(heartbeatTimeoutMs ?? DEFAULT_HEARTBEAT_TIMEOUT_MS, DEFAULT_HEARTBEAT_TIMEOUT_MS);
}

/** How often, and how far apart, the gate reads etcd before it refuses. */
const ETCD_GATE_READS = 3;
const ETCD_GATE_INTERVAL = '5s';

function installsBeforeDrain(input: NodeUpgradeInput, checks: boolean): boolean {
  return (
    checks && input.installBeforeDrain !== false && input.strategy === 'pets' && usesLifecycleApi(input.from)
  );
}

/** How many steps a node goes through, to turn the current step into a fraction. */
function stepCount(input: NodeUpgradeInput, checks: boolean, localGates: boolean): number {
  const controlPlane = input.role === 'controlplane';
  // NICs and kernel command line; pets control planes take the quorum gate again before the reboot.
  const extra = checks ? (input.strategy === 'pets' ? 2 + (controlPlane ? 1 : 0) : 1) : 0;
  const lifecycle = installsBeforeDrain(input, checks) ? 1 : 0;
  const base = input.strategy === 'pets' ? 8 + (controlPlane ? 3 : 0) : 12 + (controlPlane ? 4 : 0);
  // Since local-health-checks the cordon is part of the drain step.
  return base + extra + lifecycle - (localGates ? 1 : 0);
}

/** After the boot: the NICs the inventory names, and the kernel arguments it expects. */
async function checkBootedNode(run: NodeRun): Promise<void> {
  if (run.input.strategy === 'pets') {
    run.step('checking NICs');
    await run.q.checkNodeNics(run.at);
  }
  run.step('checking the kernel command line');
  await run.q.checkKernelArgs(run.at);
}

async function etcdGate(run: NodeRun): Promise<void> {
  const { input } = run;
  let health = await run.q.checkEtcdHealth({ cluster: input.cluster });
  // Histories from before the patch refused on the first read.
  const confirms = () => run.lean || patched(ETCD_GATE_CONFIRMS);
  for (let read = 1; !health.canLoseOne && read < ETCD_GATE_READS && confirms(); read++) {
    await sleep(ETCD_GATE_INTERVAL, {
      summary: `etcd unhealthy: read again (${read + 1}/${ETCD_GATE_READS})`,
    });
    health = await run.q.checkEtcdHealth({ cluster: input.cluster });
  }
  if (!health.canLoseOne) {
    const sick = health.unhealthy.map((u) => `${u.node} (${u.error})`).join(', ') || 'none';
    throw ApplicationFailure.nonRetryable(
      `etcd on ${input.cluster} cannot lose ${input.node} without losing quorum (${health.healthy.length}/${health.members.length} healthy; unhealthy: ${sick})`,
      FAILURE.QuorumAtRisk,
    );
  }
}

/**
 * Before an undo takes a control-plane node down again (reboot into the old version, VM recreated):
 * the other members alone must hold quorum. When they do not, the node stays as it is, up on the new
 * version, and the undo fails loudly: a rollback must never be what loses etcd.
 */
async function rollbackGate(run: NodeRun): Promise<void> {
  const { input } = run;
  if (!run.checks || input.role !== 'controlplane') return;
  const health = await run.uq.checkEtcdHealth({ cluster: input.cluster });
  // A node that is not a member (cattle after `etcd leave`) takes nothing from etcd when it goes down.
  if (!health.members.some((m) => m.node === input.node)) return;
  const others = health.members.filter(
    (m) => m.node !== input.node && health.healthy.includes(m.node ?? m.hostname),
  );
  if (others.length <= health.members.length / 2) {
    throw ApplicationFailure.nonRetryable(
      `not taking ${input.node} down to roll it back: the other etcd members (${others.length}/${health.members.length} healthy) would not hold quorum. It stays as it is (up, on ${input.to}); fix etcd, then \`talos-upgrade undo retry\` (or run the upgrade again)`,
      FAILURE.QuorumAtRisk,
    );
  }
}

/**
 * Pets' undo: back to the old version in place. Since the install-before-drain patch it takes Talos's
 * legacy upgrade, which writes machine.install.extraKernelArgs into the boot entry (1.13's install
 * does not on older GRUB nodes), and proves the kernel command line again afterwards.
 */
async function upgradeBack(run: NodeRun): Promise<void> {
  const { input, at, checks } = run;
  await rollbackGate(run);
  await run.undo.upgradeNodeInPlace({ ...at, version: input.from, ...(checks ? { legacy: true } : {}) });
  await run.undo.waitForNodeReady({
    ...at,
    talosVersion: input.from,
    timeoutMs: input.timing.nodeReadyTimeoutMs,
  });
  if (checks) await run.uq.checkKernelArgs(at);
}

/**
 * Cattle's undo: the VM recreated at the old version. Since the settled-cancel patch a control plane
 * that is still (or again) an etcd member leaves etcd first, and since GONE_MEMBER_REMOVED a member
 * that joined after that leave is removed once its VM is gone, so a destroyed VM never stays behind
 * as a dead member; `leaveEtcd` does nothing for a node that already left.
 */
async function recreateAtOldVersion(run: NodeRun, vm: { destroyStarted: boolean }): Promise<void> {
  const { input, at } = run;
  if (run.settled && !vm.destroyStarted) {
    // The VM was never touched: only a controller that has left etcd (or may have) needs a new one.
    if (input.role !== 'controlplane') return;
    const health = await run.uq.checkEtcdHealth({ cluster: input.cluster });
    if (health.members.some((m) => m.node === input.node)) return;
  }
  await rollbackGate(run);
  if (run.settled && input.role === 'controlplane') await run.undo.leaveEtcd(at);
  await run.undo.destroyNodeVm(at);
  if (run.settled && input.role === 'controlplane' && patched(GONE_MEMBER_REMOVED))
    await run.undo.leaveEtcd({ ...at, vmGone: true });
  await run.undo.createNodeVm({ ...at, version: input.from });
  await run.undo.applyMachineConfig(at);
  await run.undo.waitForNodeReady({
    ...at,
    talosVersion: input.from,
    timeoutMs: input.timing.nodeReadyTimeoutMs,
  });
  await (run.settled ? run.undo : run.q).applyPatches(at);
}

async function waitForEtcdMember(run: NodeRun): Promise<void> {
  const { input, checks } = run;
  // The node stays cordoned while this waits: since the install-before-drain patch it asks every 2 s
  // (same 5 minutes in all) instead of every 10 s, which alone kept a node out of service 10 s longer.
  const [attempts, interval] = checks ? [150, '2s'] : [30, '10s'];
  for (let attempt = 0; attempt < attempts; attempt++) {
    const health = await run.q.checkEtcdHealth({ cluster: input.cluster });
    if (health.healthy.includes(input.node) && health.unhealthy.length === 0) return;
    await sleep(interval, { summary: `wait for the etcd member of ${input.node}` });
  }
  throw ApplicationFailure.nonRetryable(
    `${input.node} did not become a healthy etcd member again`,
    FAILURE.QuorumAtRisk,
  );
}

/**
 * Cordon (its undo registered first) and our PDB-aware drain: the node is out of service from here.
 * A cattle node's drain says so (`recreated`): the worker's Terraform queue then expects its destroy.
 */
async function cordonAndDrain(run: NodeRun, recreated = false): Promise<void> {
  const { input, at, q } = run;
  const drain = {
    ...at,
    timeoutMs: input.timing.drainTimeoutMs,
    force: input.drainForce,
    ...(recreated ? { recreated } : {}),
  };
  run.saga.add('uncordon', async () => void (await run.uq.uncordonNode(at)));
  if (run.localGates) {
    // The drain activity cordons first. A local cordon would run in the same workflow task as the
    // local health gate before it: a worker lost before that task completed would replay the gate
    // against a node this run had already cordoned, and the gate would refuse it. Scheduling the drain
    // completes the task, so the gate's result is recorded before the node is touched.
    run.step('cordoning and draining');
    await run.act.drainNode({ ...drain, cordon: true });
    return;
  }
  run.step('cordoning');
  await q.cordonNode(at);
  run.step('draining');
  await run.act.drainNode(drain);
}

/**
 * A control plane's quorum gate again, after its drain and right before its reboot: Talos 1.13's
 * upgrade no longer checks etcd on the server, so ours is the gate that counts.
 */
async function gateBeforeReboot(run: NodeRun): Promise<void> {
  if (run.input.role !== 'controlplane') return;
  run.step('etcd quorum gate before the reboot');
  await etcdGate(run);
}

async function healthGate(run: NodeRun, when: string): Promise<void> {
  const report = await run.gate.runHealthChecks({ cluster: run.input.cluster, node: run.input.node });
  if (!report.ok)
    throw ApplicationFailure.nonRetryable(
      `${when}: ${report.summary}: ${report.failed.map((f) => `${f.check}: ${f.diagnostics}`).join(' | ')}`,
      FAILURE.HealthCheckFailed,
    );
}

/**
 * Pets on Talos 1.13+: the installer is pulled and written while the node still serves, so the node
 * is out of service only for our drain and the reboot. Talos no longer checks etcd on this path:
 * our quorum gate is taken again right before the reboot, when it matters.
 */
async function installThenReboot(run: NodeRun): Promise<void> {
  const { input, at } = run;
  run.step(`installing ${input.to}`);
  // An install left behind would boot at the next reboot, whoever asks for it: put the old one back.
  run.saga.add(
    'reinstall the running version',
    async () => void (await run.undo.installUpgrade({ ...at, version: input.from, reinstall: true })),
  );
  await run.act.installUpgrade({ ...at, version: input.to });
  await cordonAndDrain(run);
  await gateBeforeReboot(run);
  run.step(`rebooting into ${input.to}`);
  run.saga.add('upgrade back', () => upgradeBack(run));
  await run.act.rebootIntoUpgrade({ ...at, version: input.to });
}

/** Pets before Talos 1.13: `talosctl upgrade` pulls, installs and reboots in one go, after our drain. */
async function upgradeThenReboot(run: NodeRun): Promise<void> {
  const { input, at } = run;
  await cordonAndDrain(run);
  if (run.checks) await gateBeforeReboot(run);
  run.step(`upgrading to ${input.to}`);
  run.saga.add('upgrade back', () => upgradeBack(run));
  await run.act.upgradeNodeInPlace({ ...at, version: input.to });
}

/** Pets: upgrade in place, keeping the node's labels and taints; undo is the old image. */
async function pets(run: NodeRun): Promise<void> {
  const { input, at } = run;
  run.step('reading labels and taints');
  const before = await run.q.readNodeMetadata(at);
  if (installsBeforeDrain(input, run.checks)) await installThenReboot(run);
  else await upgradeThenReboot(run);
  run.step('waiting for Ready');
  await run.wait.waitForNodeReady({
    ...at,
    talosVersion: input.to,
    timeoutMs: input.timing.nodeReadyTimeoutMs,
  });
  const after = await run.q.readNodeMetadata(at);
  const lostLabels = Object.entries(before.labels)
    .filter(([key, value]) => after.labels[key] !== value)
    .map(([key]) => key);
  const lostTaints = before.taints
    .filter((t) => !after.taints.some((a) => a.key === t.key && a.effect === t.effect))
    .map((t) => t.key);
  if (lostLabels.length || lostTaints.length) {
    throw ApplicationFailure.nonRetryable(
      `${input.node} lost labels [${lostLabels.join(', ')}] or taints [${lostTaints.join(', ')}] in the upgrade`,
      FAILURE.ValidationFailed,
    );
  }
  if (run.checks) await checkBootedNode(run);
}

/**
 * Cattle: destroy and recreate the VM at the new version; undo recreates it at the old one. Since the
 * settled-cancel patch the state is backed up first and the undo is registered before `etcd leave`:
 * a controller that has left etcd is always recreated, never left running outside it.
 */
async function cattle(run: NodeRun): Promise<void> {
  const { input, at } = run;
  await cordonAndDrain(run, true);
  const leaveEtcd = async () => {
    if (input.role !== 'controlplane') return;
    run.step('leaving etcd');
    await run.act.leaveEtcd(at);
  };
  if (!run.settled) await leaveEtcd();
  run.step('backing up the Terraform state');
  await run.act.backupTerraformState({ cluster: input.cluster });
  const vm = { destroyStarted: false };
  run.saga.add('recreate at the old version', () => recreateAtOldVersion(run, vm));
  if (run.settled) await leaveEtcd();
  run.step('destroying the VM');
  vm.destroyStarted = true;
  await run.act.destroyNodeVm(at);
  run.step(`creating the VM at ${input.to}`);
  await run.act.createNodeVm({ ...at, version: input.to });
  run.step('applying the machine config');
  await run.act.applyMachineConfig(at);
  run.step('waiting for Ready');
  await run.wait.waitForNodeReady({
    ...at,
    talosVersion: input.to,
    timeoutMs: input.timing.nodeReadyTimeoutMs,
  });
  run.step('applying patches');
  await (run.settled ? run.act : run.q).applyPatches(at);
  run.step('checking NICs');
  await run.q.checkNodeNics(at);
  if (run.checks) await checkBootedNode(run);
}

/**
 * An undo that failed for good waits for an operator: the node shows CompensationStuck, a critical
 * notification names the undo, its error and the commands; `undo` retry or abandon (with a reason).
 */
function operatorForStuckUndos(
  input: NodeUpgradeInput,
  progress: { step: string; stuck?: { undo: string; error: string } },
): OnStuck {
  let decision: StuckDecision | undefined;
  type Answer = { action: 'retry' | 'abandon'; by: string; reason?: string };
  const refusal = (answer: Answer): string | undefined => {
    if (!progress.stuck) return `no undo is stuck (step: ${progress.step})`;
    if (answer.action === 'abandon' && !answer.reason?.trim())
      return 'abandoning an undo needs its reason: the node is left as it is, and the record says why';
    return undefined;
  };
  const decide = (answer: Answer) => {
    log.info('operator decided on a stuck undo', { ...answer, undo: progress.stuck?.undo });
    decision =
      answer.action === 'retry'
        ? { action: 'retry' }
        : { action: 'abandon', reason: `${answer.reason ?? ''} (${answer.by})` };
  };
  setHandler(
    undoSignal,
    (answer) => {
      const refused = refusal(answer);
      if (refused) return void log.warn(`${refused}; the signal is ignored`, { by: answer.by });
      decide(answer);
    },
    {
      description:
        'For a node in CompensationStuck: {"action": "retry", "by": "name"} runs the stuck undo again; {"action": "abandon", "by": "name", "reason": "..."} gives it up',
    },
  );
  setHandler(
    undoUpdate,
    (answer) => {
      const undo = progress.stuck?.undo ?? '';
      decide(answer);
      return { undo, action: answer.action };
    },
    {
      validator: (answer: Answer) => {
        const refused = refusal(answer);
        if (refused) throw new Error(refused);
      },
      description: 'The same answer as the undo signal, refused with its reason when it does not apply',
    },
  );
  return async (name, error) => {
    progress.stuck = { undo: name, error };
    progress.step = `undo stuck: ${name}`;
    upsertSearchAttributes({ UpgradePhase: ['CompensationStuck'] });
    await notifications
      .notify({
        cluster: input.cluster,
        event: {
          kind: 'critical',
          message: `${input.node}: the undo "${name}" is stuck (${error}). It waits for an operator: talos-upgrade undo retry|abandon ${input.cluster}`,
        },
      })
      .catch(() => undefined);
    await condition(() => decision !== undefined);
    const answer = decision ?? { action: 'retry' };
    decision = undefined;
    delete progress.stuck;
    upsertSearchAttributes({ UpgradePhase: ['RollingBack'] });
    return answer;
  };
}

/**
 * After a cancel: when the cluster run that started this node is no longer running (an operator
 * terminated it, or it timed out), nobody else will report what became of the node, so it does.
 */
async function noticeIfOrphaned(input: NodeUpgradeInput, message: string): Promise<void> {
  const parent = workflowInfo().parent;
  if (!parent) return;
  await CancellationScope.nonCancellable(async () => {
    const status = await quick
      .runStatus({ workflowId: parent.workflowId, runId: parent.runId })
      .catch(() => 'UNKNOWN');
    if (status === 'RUNNING') return;
    const event = {
      kind: 'rollback' as const,
      node: input.node,
      reason: `${message} (its cluster run ${parent.workflowId} is ${status.toLowerCase()}: nothing else reports this node)`,
    };
    await notifications.notify({ cluster: input.cluster, event }).catch(() => undefined);
  });
}

/**
 * One node, one hop, as a saga: each step that changes the world registers its undo first; on a
 * failure or a cancel the undos run, and the failure is re-raised with what was done about it.
 */
export async function nodeUpgrade(input: NodeUpgradeInput): Promise<NodeResult> {
  const started = Date.now();
  const startedAt = new Date(started).toISOString();
  const hop = `${input.from}->${input.to}`;
  // Decided once, before any step, so that replays of older histories take their old path.
  const localGates = patched(LOCAL_HEALTH_CHECKS);
  const lean = localGates || patched(LEAN_HISTORY);
  upsertSearchAttributes({
    NodeName: [input.node],
    TalosCluster: [input.cluster],
    UpgradeStrategy: [input.strategy],
    UpgradePhase: [lean ? 'Upgrading' : 'Starting'],
  });
  const checks = lean || patched(INSTALL_BEFORE_DRAIN);
  const progress: {
    node: string;
    step: string;
    index: number;
    total: number;
    stuck?: { undo: string; error: string };
  } = { node: input.node, step: 'starting', index: 0, total: stepCount(input, checks, localGates) };
  setHandler(nodeProgressQuery, () => progress, { description: 'The step this node is at, of how many' });
  const step: Step = (name) => {
    progress.step = name;
    progress.index = Math.min(progress.index + 1, progress.total);
    log.info('node step', { node: input.node, step: name });
    if (!lean) upsertSearchAttributes({ UpgradePhase: [name] });
    // "of", not "/": the Web UI renders a markdown 7/14 as a fraction.
    setCurrentDetails(
      `**${input.node}** (${input.role}) · Talos ${input.from} → ${input.to} as ${input.strategy} · step ${progress.index} of ${progress.total}: **${name}**`,
    );
  };
  const at = { cluster: input.cluster, node: input.node };
  if (!lean) deprecatePatch(LOCAL_QUICK_STEPS);
  const q: QuickActivities = local;
  const settled = lean || patched(SETTLED_CANCEL);
  const saga = new Saga();
  const { mutating, waits, undo } = heartbeating(input.timing.heartbeatTimeoutMs);
  const wait = settled ? waits : long;
  const run: NodeRun = {
    input,
    at,
    saga,
    step,
    q,
    act: settled ? mutating : long,
    wait,
    gate: localGates ? localChecks : wait,
    undo: settled ? undo : long,
    uq: settled ? undoLocal : q,
    checks,
    settled,
    lean,
    localGates,
  };
  const onStuck = settled ? operatorForStuckUndos(input, progress) : undefined;

  if ((await q.getTalosVersion(at).catch(() => undefined)) === input.to) {
    // A resumed or repeated run: the node is done; only make sure it is schedulable.
    await q.uncordonNode(at);
    if (lean) upsertSearchAttributes({ UpgradePhase: ['Skipped'] });
    return {
      node: input.node,
      hop,
      strategy: input.strategy,
      outcome: 'skipped',
      startedAt,
      durationMs: Date.now() - started,
    };
  }

  try {
    step('health gate');
    await healthGate(run, `${input.node} is not healthy before its upgrade`);
    if (input.role === 'controlplane') {
      step('etcd quorum gate');
      await etcdGate(run);
    }
    await (input.strategy === 'pets' ? pets(run) : cattle(run));
    if (input.role === 'controlplane') {
      step('waiting for the etcd member');
      await waitForEtcdMember(run);
      step('stabilising');
      await sleep(input.timing.stabilisationMs, {
        summary: `stabilise ${humanDuration(input.timing.stabilisationMs)}`,
      });
    }
    step('uncordoning');
    await q.uncordonNode(at);
    saga.drop('uncordon');
    step('health checks');
    await healthGate(run, `${input.node} is not healthy after its upgrade`);
    upsertSearchAttributes({ UpgradePhase: ['Done'] });
    Object.assign(progress, { step: 'done', index: progress.total });
    setCurrentDetails(
      `**${input.node}** (${input.role}) · Talos ${input.from} → ${input.to} as ${input.strategy} · **done**`,
    );
    return {
      node: input.node,
      hop,
      strategy: input.strategy,
      outcome: 'upgraded',
      startedAt,
      durationMs: Date.now() - started,
    };
  } catch (error) {
    const why = wasCancelled(error) ? 'cancelled' : describeFailure(error).replace(/\.$/, '');
    log.warn('node upgrade failed; compensating', { node: input.node, why });
    upsertSearchAttributes({ UpgradePhase: ['RollingBack'] });
    const undone = await saga.compensate(onStuck);
    upsertSearchAttributes({ UpgradePhase: [undone.ok ? 'RolledBack' : 'RollbackFailed'] });
    const outcome = undone.ok ? 'rolled-back' : 'rollback-failed';
    const message = `${input.node} (${hop}, ${input.strategy}): ${why}; ${undone.ok ? 'rolled back to a safe state' : `ROLLBACK FAILED: ${undone.errors.join('; ')}`}`;
    if (wasCancelled(error) && settled && (lean || patched(ORPHAN_NOTICE)))
      await noticeIfOrphaned(input, message);
    // A cancel whose undo failed is no mere cancel: the failure (and what is left undone) goes up.
    if (wasCancelled(error) && (undone.ok || !settled)) throw error;
    throw ApplicationFailure.nonRetryable(message, FAILURE.NodeUpgradeFailed, {
      node: input.node,
      hop,
      strategy: input.strategy,
      outcome,
      startedAt,
      durationMs: Date.now() - started,
      error: why,
    });
  }
}
