import {
  ApplicationFailure,
  log,
  patched,
  setHandler,
  sleep,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import { usesLifecycleApi } from '../domain/index.js';
import { local, long, quick, type QuickActivities } from './activityOptions.js';
import { describeFailure, wasCancelled } from './failures.js';
import { Saga } from './saga.js';
import { nodeProgressQuery } from './signals.js';
import type { NodeResult, NodeUpgradeInput } from './types.js';

type Step = (name: string) => void;

const LOCAL_QUICK_STEPS = 'local-quick-steps';
/** Since this patch a 1.13+ node installs before its drain and every node's NICs and kernel are checked. */
const INSTALL_BEFORE_DRAIN = 'install-before-drain';

function installsBeforeDrain(input: NodeUpgradeInput, checks: boolean): boolean {
  return (
    checks && input.installBeforeDrain !== false && input.strategy === 'pets' && usesLifecycleApi(input.from)
  );
}

/** How many steps a node goes through, to turn the current step into a fraction. */
function stepCount(input: NodeUpgradeInput, checks: boolean): number {
  const controlPlane = input.role === 'controlplane';
  // NICs and kernel command line; pets control planes take the quorum gate again before the reboot.
  const extra = checks ? (input.strategy === 'pets' ? 2 + (controlPlane ? 1 : 0) : 1) : 0;
  const lifecycle = installsBeforeDrain(input, checks) ? 1 : 0;
  const base = input.strategy === 'pets' ? 8 + (controlPlane ? 3 : 0) : 12 + (controlPlane ? 4 : 0);
  return base + extra + lifecycle;
}

/** After the boot: the NICs the inventory names, and the kernel arguments it expects. */
async function checkBootedNode(input: NodeUpgradeInput, step: Step, q: QuickActivities): Promise<void> {
  const at = { cluster: input.cluster, node: input.node };
  if (input.strategy === 'pets') {
    step('checking NICs');
    await q.checkNodeNics(at);
  }
  step('checking the kernel command line');
  await q.checkKernelArgs(at);
}

async function etcdGate(input: NodeUpgradeInput, q: QuickActivities): Promise<void> {
  const health = await q.checkEtcdHealth({ cluster: input.cluster });
  if (!health.canLoseOne) {
    const sick = health.unhealthy.map((u) => u.node).join(', ') || 'none';
    throw ApplicationFailure.nonRetryable(
      `etcd on ${input.cluster} cannot lose ${input.node} without losing quorum (${health.healthy.length}/${health.members.length} healthy; unhealthy: ${sick})`,
      'QuorumAtRisk',
    );
  }
}

/**
 * Before an undo takes a control-plane node down again (reboot into the old version, VM recreated):
 * the other members alone must hold quorum. When they do not, the node stays as it is, up on the new
 * version, and the undo fails loudly: a rollback must never be what loses etcd.
 */
async function rollbackGate(input: NodeUpgradeInput, q: QuickActivities, checks: boolean): Promise<void> {
  if (!checks || input.role !== 'controlplane') return;
  const health = await q.checkEtcdHealth({ cluster: input.cluster });
  // A node that is not a member (cattle after `etcd leave`) takes nothing from etcd when it goes down.
  if (!health.members.some((m) => m.node === input.node)) return;
  const others = health.members.filter(
    (m) => m.node !== input.node && health.healthy.includes(m.node ?? m.hostname),
  );
  if (others.length <= health.members.length / 2) {
    throw ApplicationFailure.nonRetryable(
      `not taking ${input.node} down to roll it back: the other etcd members (${others.length}/${health.members.length} healthy) would not hold quorum. It stays as it is (up, on ${input.to}); fix etcd, then run the upgrade again`,
      'QuorumAtRisk',
    );
  }
}

/**
 * Pets' undo: back to the old version in place. Since the install-before-drain patch it takes Talos's
 * legacy upgrade, which writes machine.install.extraKernelArgs into the boot entry (1.13's install
 * does not on older GRUB nodes), and proves the kernel command line again afterwards.
 */
async function upgradeBack(input: NodeUpgradeInput, q: QuickActivities, checks: boolean): Promise<void> {
  const at = { cluster: input.cluster, node: input.node };
  await rollbackGate(input, q, checks);
  await long.upgradeNodeInPlace({ ...at, version: input.from, ...(checks ? { legacy: true } : {}) });
  await long.waitForNodeReady({
    ...at,
    talosVersion: input.from,
    timeoutMs: input.timing.nodeReadyTimeoutMs,
  });
  if (checks) await q.checkKernelArgs(at);
}

async function waitForEtcdMember(
  input: NodeUpgradeInput,
  q: QuickActivities,
  checks: boolean,
): Promise<void> {
  // The node stays cordoned while this waits: since the install-before-drain patch it asks every 2 s
  // (same 5 minutes in all) instead of every 10 s, which alone kept a node out of service 10 s longer.
  const [attempts, interval] = checks ? [150, '2s'] : [30, '10s'];
  for (let attempt = 0; attempt < attempts; attempt++) {
    const health = await q.checkEtcdHealth({ cluster: input.cluster });
    if (health.healthy.includes(input.node) && health.unhealthy.length === 0) return;
    await sleep(interval);
  }
  throw ApplicationFailure.nonRetryable(
    `${input.node} did not become a healthy etcd member again`,
    'QuorumAtRisk',
  );
}

/** Cordon (its undo registered first) and our PDB-aware drain: the node is out of service from here. */
async function cordonAndDrain(
  input: NodeUpgradeInput,
  saga: Saga,
  step: Step,
  q: QuickActivities,
): Promise<void> {
  const at = { cluster: input.cluster, node: input.node };
  step('cordoning');
  saga.add('uncordon', async () => void (await q.uncordonNode(at)));
  await q.cordonNode(at);
  step('draining');
  await long.drainNode({ ...at, timeoutMs: input.timing.drainTimeoutMs, force: input.drainForce });
}

/**
 * A control plane's quorum gate again, after its drain and right before its reboot: Talos 1.13's
 * upgrade no longer checks etcd on the server, so ours is the gate that counts.
 */
async function gateBeforeReboot(input: NodeUpgradeInput, step: Step, q: QuickActivities): Promise<void> {
  if (input.role !== 'controlplane') return;
  step('etcd quorum gate before the reboot');
  await etcdGate(input, q);
}

async function healthGate(input: NodeUpgradeInput, when: string): Promise<void> {
  const report = await long.runHealthChecks({ cluster: input.cluster, node: input.node });
  if (!report.ok)
    throw ApplicationFailure.nonRetryable(
      `${when}: ${report.summary}: ${report.failed.map((f) => `${f.check}: ${f.diagnostics}`).join(' | ')}`,
      'HealthCheckFailed',
    );
}

/**
 * Pets on Talos 1.13+: the installer is pulled and written while the node still serves, so the node
 * is out of service only for our drain and the reboot. Talos no longer checks etcd on this path:
 * our quorum gate is taken again right before the reboot, when it matters.
 */
async function installThenReboot(
  input: NodeUpgradeInput,
  saga: Saga,
  step: Step,
  q: QuickActivities,
  checks: boolean,
): Promise<void> {
  const at = { cluster: input.cluster, node: input.node };
  step(`installing ${input.to}`);
  // An install left behind would boot at the next reboot, whoever asks for it: put the old one back.
  saga.add(
    'reinstall the running version',
    async () => void (await long.installUpgrade({ ...at, version: input.from, reinstall: true })),
  );
  await long.installUpgrade({ ...at, version: input.to });
  await cordonAndDrain(input, saga, step, q);
  await gateBeforeReboot(input, step, q);
  step(`rebooting into ${input.to}`);
  saga.add('upgrade back', () => upgradeBack(input, q, checks));
  await long.rebootIntoUpgrade({ ...at, version: input.to });
}

/** Pets: upgrade in place, keeping the node's labels and taints; undo is the old image. */
async function pets(
  input: NodeUpgradeInput,
  saga: Saga,
  step: Step,
  q: QuickActivities,
  checks: boolean,
): Promise<void> {
  const at = { cluster: input.cluster, node: input.node };
  step('reading labels and taints');
  const before = await q.readNodeMetadata(at);
  if (installsBeforeDrain(input, checks)) await installThenReboot(input, saga, step, q, checks);
  else await upgradeThenReboot(input, saga, step, q, checks);
  step('waiting for Ready');
  await long.waitForNodeReady({ ...at, talosVersion: input.to, timeoutMs: input.timing.nodeReadyTimeoutMs });
  const after = await q.readNodeMetadata(at);
  const lostLabels = Object.entries(before.labels)
    .filter(([key, value]) => after.labels[key] !== value)
    .map(([key]) => key);
  const lostTaints = before.taints
    .filter((t) => !after.taints.some((a) => a.key === t.key && a.effect === t.effect))
    .map((t) => t.key);
  if (lostLabels.length || lostTaints.length) {
    throw ApplicationFailure.nonRetryable(
      `${input.node} lost labels [${lostLabels.join(', ')}] or taints [${lostTaints.join(', ')}] in the upgrade`,
      'ValidationFailed',
    );
  }
  if (checks) await checkBootedNode(input, step, q);
}

/** Pets before Talos 1.13: `talosctl upgrade` pulls, installs and reboots in one go, after our drain. */
async function upgradeThenReboot(
  input: NodeUpgradeInput,
  saga: Saga,
  step: Step,
  q: QuickActivities,
  checks: boolean,
): Promise<void> {
  const at = { cluster: input.cluster, node: input.node };
  await cordonAndDrain(input, saga, step, q);
  if (checks) await gateBeforeReboot(input, step, q);
  step(`upgrading to ${input.to}`);
  saga.add('upgrade back', () => upgradeBack(input, q, checks));
  await long.upgradeNodeInPlace({ ...at, version: input.to });
}

/** Cattle: destroy and recreate the VM at the new version; undo recreates it at the old one. */
async function cattle(
  input: NodeUpgradeInput,
  saga: Saga,
  step: Step,
  q: QuickActivities,
  checks: boolean,
): Promise<void> {
  const at = { cluster: input.cluster, node: input.node };
  await cordonAndDrain(input, saga, step, q);
  if (input.role === 'controlplane') {
    step('leaving etcd');
    await long.leaveEtcd(at);
  }
  step('backing up the Terraform state');
  await long.backupTerraformState({ cluster: input.cluster });
  saga.add('recreate at the old version', async () => {
    await rollbackGate(input, q, checks);
    await long.destroyNodeVm(at);
    await long.createNodeVm({ ...at, version: input.from });
    await long.applyMachineConfig(at);
    await long.waitForNodeReady({
      ...at,
      talosVersion: input.from,
      timeoutMs: input.timing.nodeReadyTimeoutMs,
    });
    await q.applyPatches(at);
  });
  step('destroying the VM');
  await long.destroyNodeVm(at);
  step(`creating the VM at ${input.to}`);
  await long.createNodeVm({ ...at, version: input.to });
  step('applying the machine config');
  await long.applyMachineConfig(at);
  step('waiting for Ready');
  await long.waitForNodeReady({ ...at, talosVersion: input.to, timeoutMs: input.timing.nodeReadyTimeoutMs });
  step('applying patches');
  await q.applyPatches(at);
  step('checking NICs');
  await q.checkNodeNics(at);
  if (checks) await checkBootedNode(input, step, q);
}

/**
 * One node, one hop, as a saga: each step that changes the world registers its undo first; on a
 * failure or a cancel the undos run, and the failure is re-raised with what was done about it.
 */
export async function nodeUpgrade(input: NodeUpgradeInput): Promise<NodeResult> {
  const started = Date.now();
  const startedAt = new Date(started).toISOString();
  const hop = `${input.from}->${input.to}`;
  upsertSearchAttributes({
    NodeName: [input.node],
    TalosCluster: [input.cluster],
    UpgradeStrategy: [input.strategy],
    UpgradePhase: ['Starting'],
  });
  // Decided once, before any step, so that replays of older histories take their old path.
  const checks = patched(INSTALL_BEFORE_DRAIN);
  const progress = { node: input.node, step: 'starting', index: 0, total: stepCount(input, checks) };
  setHandler(nodeProgressQuery, () => progress, { description: 'The step this node is at, of how many' });
  const step: Step = (name) => {
    progress.step = name;
    progress.index = Math.min(progress.index + 1, progress.total);
    log.info('node step', { node: input.node, step: name });
    upsertSearchAttributes({ UpgradePhase: [name] });
  };
  const at = { cluster: input.cluster, node: input.node };
  // Quick calls run as local activities since this patch; older histories replay with remote ones.
  const q: QuickActivities = patched(LOCAL_QUICK_STEPS) ? local : quick;

  if ((await q.getTalosVersion(at).catch(() => undefined)) === input.to) {
    // A resumed or repeated run: the node is done; only make sure it is schedulable.
    await q.uncordonNode(at);
    return {
      node: input.node,
      hop,
      strategy: input.strategy,
      outcome: 'skipped',
      startedAt,
      durationMs: Date.now() - started,
    };
  }

  const saga = new Saga();
  try {
    step('health gate');
    await healthGate(input, `${input.node} is not healthy before its upgrade`);
    if (input.role === 'controlplane') {
      step('etcd quorum gate');
      await etcdGate(input, q);
    }
    await (input.strategy === 'pets'
      ? pets(input, saga, step, q, checks)
      : cattle(input, saga, step, q, checks));
    if (input.role === 'controlplane') {
      step('waiting for the etcd member');
      await waitForEtcdMember(input, q, checks);
      step('stabilising');
      await sleep(input.timing.stabilisationMs);
    }
    step('uncordoning');
    await q.uncordonNode(at);
    saga.drop('uncordon');
    step('health checks');
    await healthGate(input, `${input.node} is not healthy after its upgrade`);
    upsertSearchAttributes({ UpgradePhase: ['Done'] });
    Object.assign(progress, { step: 'done', index: progress.total });
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
    const undo = await saga.compensate();
    upsertSearchAttributes({ UpgradePhase: [undo.ok ? 'RolledBack' : 'RollbackFailed'] });
    const outcome = undo.ok ? 'rolled-back' : 'rollback-failed';
    const message = `${input.node} (${hop}, ${input.strategy}): ${why}; ${undo.ok ? 'rolled back to a safe state' : `ROLLBACK FAILED: ${undo.errors.join('; ')}`}`;
    if (wasCancelled(error)) throw error;
    throw ApplicationFailure.nonRetryable(message, 'NodeUpgradeFailed', {
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
