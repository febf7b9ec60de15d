import {
  CancellationScope,
  condition,
  log,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { NODE_PHASE } from '../../domain/index.js';
import { notifications, quick } from '../activityOptions.js';
import type { OnStuck, StuckDecision } from '../saga.js';
import { undoSignal, undoUpdate } from '../signals.js';
import type { NodeUpgradeInput } from '../types.js';
import { drainForUndo } from './drain.js';
import { rollbackGate } from './gates.js';
import type { NodeProgress, NodeRun } from './run.js';

/**
 * The undos of a node run. They use only the undo profiles (retried until they succeed, then handed
 * to an operator); every undo that takes a control plane down starts with the rollback gate.
 */

/**
 * Pets' undo: back to the old version in place. It takes Talos's legacy upgrade, which writes
 * machine.install.extraKernelArgs into the boot entry (1.13's install does not on older GRUB nodes),
 * and proves the kernel command line again afterwards.
 */
export async function upgradeBack(run: NodeRun): Promise<void> {
  const { input, at } = run;
  await rollbackGate(run);
  await drainForUndo(run);
  await run.undo.upgradeNodeInPlace({ ...at, version: input.from, legacy: true });
  await run.undo.waitForNodeReady({
    ...at,
    talosVersion: input.from,
    timeoutMs: input.timing.nodeReadyTimeoutMs,
  });
  await run.undoRead.checkKernelArgs(at);
}

/** How far cattle got before its undo runs: whether the VM may have been touched. */
export interface VmTouched {
  destroyStarted: boolean;
}

/**
 * Cattle's undo: the VM recreated at the old version. A control plane that is still (or again) an
 * etcd member leaves etcd first; after the destroy a healthy member removes it once more, since a VM
 * still booting when the first leave ran may have joined before the destroy reached it, and a
 * destroyed VM must never stay behind as a dead member (the VM recreated at the old version could not
 * start etcd). `leaveEtcd` does nothing for a node that already left.
 */
export async function recreateAtOldVersion(run: NodeRun, vm: VmTouched): Promise<void> {
  const { input, at } = run;
  const controlPlane = input.role === 'controlplane';
  if (!vm.destroyStarted) {
    // The VM was never touched: only a controller that has left etcd (or may have) needs a new one.
    if (!controlPlane) return;
    const health = await run.undoRead.checkEtcdHealth({ cluster: input.cluster });
    if (health.members.some((m) => m.node === input.node)) return;
  }
  await rollbackGate(run);
  await drainForUndo(run);
  if (controlPlane) await run.undo.leaveEtcd(at);
  // The Node stays (Ready for a while) after its VM: the VM made again at the version it ran counts
  // only with a boot of its own.
  const { bootId } = await run.undo.destroyNodeVm(at);
  if (controlPlane) await run.undo.leaveEtcd({ ...at, vmGone: true });
  await run.undo.createNodeVm({ ...at, version: input.from });
  await run.undo.applyMachineConfig(at);
  await run.undo.waitForNodeReady({
    ...at,
    talosVersion: input.from,
    ...(bootId ? { goneBootId: bootId } : {}),
    timeoutMs: input.timing.nodeReadyTimeoutMs,
  });
  const patched = await run.undo.applyPatches(at);
  if (patched.rebooted)
    await run.undo.waitForNodeReady({
      ...at,
      talosVersion: input.from,
      ...(patched.bootId ? { goneBootId: patched.bootId } : {}),
      timeoutMs: input.timing.nodeReadyTimeoutMs,
    });
}

/**
 * An undo that failed for good waits for an operator: the node shows CompensationStuck, a critical
 * notification names the undo, its error and the commands; `undo` retry or abandon (with a reason).
 */
export function operatorForStuckUndos(input: NodeUpgradeInput, progress: NodeProgress): OnStuck {
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
    upsertSearchAttributes({ UpgradePhase: [NODE_PHASE.CompensationStuck] });
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
    upsertSearchAttributes({ UpgradePhase: [NODE_PHASE.RollingBack] });
    return answer;
  };
}

/**
 * After a cancel: when the cluster run that started this node is no longer running (an operator
 * terminated it, or it timed out), nobody else will report what became of the node, so it does.
 */
export async function noticeIfOrphaned(input: NodeUpgradeInput, message: string): Promise<void> {
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
