import {
  ApplicationFailure,
  setCurrentDetails,
  sleep,
  upsertSearchAttributes,
  log,
} from '@temporalio/workflow';
import { atOrPast, DEFAULT_HEARTBEAT_TIMEOUT_MS, FAILURE, NODE_PHASE } from '../../domain/index.js';
import { describeFailure, wasCancelled } from '../failures.js';
import { humanDuration } from '../runDetails.js';
import type { NodeResult, NodeUpgradeInput } from '../types.js';
import { cattle } from './cattle.js';
import { etcdGate, healthAfterUndo, healthGate, waitForEtcdMember } from './gates.js';
import { pets } from './pets.js';
import { startNodeRun, type NodeRun } from './run.js';
import { noticeIfOrphaned, operatorForStuckUndos } from './undo.js';

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

/**
 * One node, one hop, as a saga: each step that changes the world registers its undo first; on a
 * failure or a cancel the undos run, and the failure is re-raised with what was done about it. The
 * phases: gates before → the strategy → etcd rejoined → uncordon → gates after.
 */
export async function nodeUpgrade(input: NodeUpgradeInput): Promise<NodeResult> {
  const started = Date.now();
  const result = (outcome: NodeResult['outcome']): NodeResult => ({
    node: input.node,
    hop: `${input.from}->${input.to}`,
    strategy: input.strategy,
    outcome,
    startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
  });
  upsertSearchAttributes({
    NodeName: [input.node],
    TalosCluster: [input.cluster],
    UpgradeStrategy: [input.strategy],
    UpgradePhase: [NODE_PHASE.Upgrading],
  });
  const run = startNodeRun(input);
  const onStuck = operatorForStuckUndos(input, run.progress);

  if (atOrPast(await run.read.getTalosVersion(run.at).catch(() => undefined), input.to)) {
    // A resumed or repeated run, or a node already past this hop: only make sure it is schedulable.
    await run.read.uncordonNode(run.at);
    upsertSearchAttributes({ UpgradePhase: [NODE_PHASE.Skipped] });
    return result('skipped');
  }

  try {
    await upgrade(run);
    upsertSearchAttributes({ UpgradePhase: [NODE_PHASE.Done] });
    Object.assign(run.progress, { step: 'done', index: run.progress.total });
    setCurrentDetails(
      `**${input.node}** (${input.role}) · Talos ${input.from} → ${input.to} as ${input.strategy} · **done**`,
    );
    return result('upgraded');
  } catch (error) {
    const why = wasCancelled(error) ? 'cancelled' : describeFailure(error).replace(/\.$/, '');
    log.warn('node upgrade failed; compensating', { node: input.node, why });
    upsertSearchAttributes({ UpgradePhase: [NODE_PHASE.RollingBack] });
    // Checked again only when an undo rebooted it or made its VM anew: an uncordon leaves it as found.
    const restored = run.saga.restores;
    const undone = await run.saga.compensate(onStuck);
    upsertSearchAttributes({ UpgradePhase: [undone.ok ? NODE_PHASE.RolledBack : NODE_PHASE.RollbackFailed] });
    const hop = `${input.from}->${input.to}`;
    // A node a failure's undo restored is checked as its upgrade would have been: the notice says how
    // it is. Not after a cancel: whoever cancelled wants the run to end, and no notice goes out.
    const health = undone.ok && restored && !wasCancelled(error) ? await healthAfterUndo(run) : undefined;
    const outcome = !undone.ok
      ? `ROLLBACK FAILED: ${undone.errors.join('; ')}`
      : health && !health.ok
        ? `rolled back, but after the undo ${health.summary}`
        : `rolled back to a safe state${health ? ` (after the undo ${health.summary})` : ''}`;
    const message = `${input.node} (${hop}, ${input.strategy}): ${why}; ${outcome}`;
    if (wasCancelled(error)) await noticeIfOrphaned(input, message);
    // A cancel whose undo failed is no mere cancel: the failure (and what is left undone) goes up.
    if (wasCancelled(error) && undone.ok) throw error;
    throw ApplicationFailure.nonRetryable(message, FAILURE.NodeUpgradeFailed, {
      ...result(undone.ok ? 'rolled-back' : 'rollback-failed'),
      error: why,
    });
  }
}

/** The forward phases of a node run, in order. */
async function upgrade(run: NodeRun): Promise<void> {
  const { input } = run;
  const controlPlane = input.role === 'controlplane';
  run.step('health gate');
  await healthGate(run, 'before');
  if (controlPlane) {
    run.step('etcd quorum gate');
    await etcdGate(run);
  }
  await (input.strategy === 'pets' ? pets(run) : cattle(run));
  if (controlPlane) {
    run.step('waiting for the etcd member');
    await waitForEtcdMember(run);
    run.step('stabilising');
    await sleep(input.timing.stabilisationMs, {
      summary: `stabilise ${humanDuration(input.timing.stabilisationMs)}`,
    });
  }
  run.step('uncordoning');
  // Before the call: an uncordon that landed though its answer was lost counts too.
  run.backInService = true;
  await run.read.uncordonNode(run.at);
  run.step('health checks');
  await healthGate(run, 'after');
}
