import {
  ApplicationFailure,
  log,
  patched,
  setHandler,
  sleep,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import { local, long, quick, type QuickActivities } from './activityOptions.js';
import { describeFailure, wasCancelled } from './failures.js';
import { Saga } from './saga.js';
import { nodeProgressQuery } from './signals.js';
import type { NodeResult, NodeUpgradeInput } from './types.js';

type Step = (name: string) => void;

const LOCAL_QUICK_STEPS = 'local-quick-steps';

/** How many steps a node goes through, to turn the current step into a fraction. */
function stepCount(input: NodeUpgradeInput): number {
  const controlPlane = input.role === 'controlplane';
  return input.strategy === 'pets' ? 8 + (controlPlane ? 3 : 0) : 12 + (controlPlane ? 4 : 0);
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

async function waitForEtcdMember(input: NodeUpgradeInput, q: QuickActivities): Promise<void> {
  for (let attempt = 0; attempt < 30; attempt++) {
    const health = await q.checkEtcdHealth({ cluster: input.cluster });
    if (health.healthy.includes(input.node) && health.unhealthy.length === 0) return;
    await sleep('10s');
  }
  throw ApplicationFailure.nonRetryable(
    `${input.node} did not become a healthy etcd member again`,
    'QuorumAtRisk',
  );
}

async function healthGate(input: NodeUpgradeInput, when: string): Promise<void> {
  const report = await long.runHealthChecks({ cluster: input.cluster, node: input.node });
  if (!report.ok)
    throw ApplicationFailure.nonRetryable(
      `${when}: ${report.summary}: ${report.failed.map((f) => `${f.check}: ${f.diagnostics}`).join(' | ')}`,
      'HealthCheckFailed',
    );
}

/** Pets: upgrade in place, keeping the node's labels and taints; undo is the old image. */
async function pets(input: NodeUpgradeInput, saga: Saga, step: Step, q: QuickActivities): Promise<void> {
  const at = { cluster: input.cluster, node: input.node };
  step('reading labels and taints');
  const before = await q.readNodeMetadata(at);
  step('cordoning');
  saga.add('uncordon', async () => void (await q.uncordonNode(at)));
  await q.cordonNode(at);
  step('draining');
  await long.drainNode({ ...at, timeoutMs: input.timing.drainTimeoutMs, force: input.drainForce });
  step(`upgrading to ${input.to}`);
  saga.add('upgrade back', async () => {
    await long.upgradeNodeInPlace({ ...at, version: input.from });
    await long.waitForNodeReady({
      ...at,
      talosVersion: input.from,
      timeoutMs: input.timing.nodeReadyTimeoutMs,
    });
  });
  await long.upgradeNodeInPlace({ ...at, version: input.to });
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
}

/** Cattle: destroy and recreate the VM at the new version; undo recreates it at the old one. */
async function cattle(input: NodeUpgradeInput, saga: Saga, step: Step, q: QuickActivities): Promise<void> {
  const at = { cluster: input.cluster, node: input.node };
  step('cordoning');
  saga.add('uncordon', async () => void (await q.uncordonNode(at)));
  await q.cordonNode(at);
  step('draining');
  await long.drainNode({ ...at, timeoutMs: input.timing.drainTimeoutMs, force: input.drainForce });
  if (input.role === 'controlplane') {
    step('leaving etcd');
    await long.leaveEtcd(at);
  }
  step('backing up the Terraform state');
  await long.backupTerraformState({ cluster: input.cluster });
  saga.add('recreate at the old version', async () => {
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
  const progress = { node: input.node, step: 'starting', index: 0, total: stepCount(input) };
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
    await (input.strategy === 'pets' ? pets(input, saga, step, q) : cattle(input, saga, step, q));
    if (input.role === 'controlplane') {
      step('waiting for the etcd member');
      await waitForEtcdMember(input, q);
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
