import { cordonAndDrain } from './drain.js';
import { checkBootedNode } from './gates.js';
import type { NodeRun } from './run.js';
import { recreateAtOldVersion, type VmTouched } from './undo.js';

/**
 * Cattle: the VM destroyed and recreated at the new version by Terraform; the undo recreates it at
 * the old one. The state is backed up first, and the undo is registered before `etcd leave`: a
 * controller that has left etcd is always recreated, never left running outside it.
 */
export async function cattle(run: NodeRun): Promise<void> {
  const { input, at } = run;
  await cordonAndDrain(run, true);
  run.step('backing up the Terraform state');
  await run.change.backupTerraformState({ cluster: input.cluster });
  const vm: VmTouched = { destroyStarted: false };
  run.saga.add('recreate at the old version', () => recreateAtOldVersion(run, vm));
  if (input.role === 'controlplane') {
    run.step('leaving etcd');
    await run.change.leaveEtcd(at);
  }
  run.step('destroying the VM');
  vm.destroyStarted = true;
  const { bootId } = await run.change.destroyNodeVm(at);
  run.step(`creating the VM at ${input.to}`);
  await run.change.createNodeVm({ ...at, version: input.to });
  run.step('applying the machine config');
  await run.change.applyMachineConfig(at);
  run.step('waiting for Ready');
  await run.wait.waitForNodeReady({
    ...at,
    talosVersion: input.to,
    ...(bootId ? { goneBootId: bootId } : {}),
    timeoutMs: input.timing.nodeReadyTimeoutMs,
  });
  run.step('applying patches');
  const patched = await run.change.applyPatches(at);
  if (patched.rebooted) {
    // A patch only a boot applies (machine.files): the activity rebooted the node; Ready again first.
    run.step('waiting for Ready after the patches');
    await run.wait.waitForNodeReady({
      ...at,
      talosVersion: input.to,
      ...(patched.bootId ? { goneBootId: patched.bootId } : {}),
      timeoutMs: input.timing.nodeReadyTimeoutMs,
    });
  }
  await checkBootedNode(run);
}
