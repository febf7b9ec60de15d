import { ApplicationFailure, log } from '@temporalio/workflow';
import { FAILURE } from '../../domain/index.js';
import { describeFailure, failureType } from '../failures.js';
import { cordonAndDrain } from './drain.js';
import { checkBootedNode, gateBeforeReboot, keptLabelsAndTaints } from './gates.js';
import { installsBeforeDrain, type NodeRun } from './run.js';
import { upgradeBack } from './undo.js';

/** Failures of an install's pull, which comes before anything is written to a slot. */
const PULL_FAILURES: string[] = [FAILURE.ImageMissing, FAILURE.RegistryUnavailable];

/**
 * Talos 1.13+: the installer is pulled and written while the node still serves, so the node is out of
 * service only for our drain and the reboot. Talos no longer checks etcd on this path: our quorum
 * gate is taken again right before the reboot, when it matters. An install whose answer was lost is
 * never repeated on the same boot (it would write over the running slot): the reboot tells, and a
 * node back on its old version is installed again on its new boot and rebooted once more.
 */
async function installThenReboot(run: NodeRun): Promise<void> {
  const { input, at } = run;
  run.step(`installing ${input.to}`);
  // An install left behind would boot at the next reboot, whoever asks for it: put the old one back,
  // unless the node has booted since (the install is then gone, and the default is the running slot).
  let installedOnBoot: string | undefined;
  let nothingInstalled = false;
  run.saga.add(
    'reinstall the running version',
    async () => {
      if (nothingInstalled) return;
      await run.undo.installUpgrade({
        ...at,
        version: input.from,
        reinstall: true,
        ...(installedOnBoot ? { installedOnBoot } : {}),
      });
    },
    'releases',
  );
  const install = await run.change.installUpgrade({ ...at, version: input.to }).catch((error: unknown) => {
    // The pull failed: an install comes only after it, and no earlier attempt installed on this boot
    // (a retry after one returns at once), so there is nothing to put back, and the running version's
    // installer would be pulled from the same registry.
    nothingInstalled = PULL_FAILURES.includes(failureType(error) ?? '');
    throw error;
  });
  installedOnBoot = install.bootId;
  await cordonAndDrain(run);
  await gateBeforeReboot(run);
  run.step(`rebooting into ${input.to}`);
  run.saga.add('upgrade back', () => upgradeBack(run));
  const boot = await run.change.rebootIntoUpgrade({
    ...at,
    version: input.to,
    unconfirmed: install.unconfirmed,
  });
  if (!boot.notInstalled) return;
  run.step(
    `installing ${input.to} again: the first install's answer was lost and the node booted ${input.from}`,
  );
  // Until this install answers, the boot it runs on is not known: an undo reinstalls regardless.
  installedOnBoot = undefined;
  const again = await run.change.installUpgrade({ ...at, version: input.to });
  installedOnBoot = again.bootId;
  await gateBeforeReboot(run);
  run.step(`rebooting into ${input.to}`);
  await run.change.rebootIntoUpgrade({
    ...at,
    version: input.to,
    unconfirmed: again.unconfirmed,
    secondInstall: true,
  });
}

/**
 * Before Talos 1.13 (or with policy.installBeforeDrain false): `talosctl upgrade` pulls, installs and
 * reboots in one go, after our drain. The installer is checked first, while the node still serves: a
 * registry down now is a refusal, not a drained node waiting out Talos's pull.
 */
async function upgradeThenReboot(run: NodeRun): Promise<void> {
  const { input, at } = run;
  run.step('checking the installer');
  await run.read.checkNodeInstaller({ ...at, version: input.to });
  await cordonAndDrain(run);
  await gateBeforeReboot(run);
  run.step(`upgrading to ${input.to}`);
  run.saga.add('upgrade back', () => upgradeBack(run));
  // A call Talos had not answered by the end of its wait was still pulling (a slow pull may finish on
  // the next call). A second as long most likely is a registry the node cannot reach, and every further
  // call would keep the node drained as long again.
  for (let call = 1; ; call++) {
    try {
      await run.change.upgradeNodeInPlace({ ...at, version: input.to, reportUnanswered: true });
      return;
    } catch (error) {
      if (failureType(error) !== FAILURE.UpgradeUnanswered) throw error;
      if (call === 1) {
        log.warn('the upgrade call was not answered; once more', {
          node: input.node,
          why: describeFailure(error),
        });
        continue;
      }
      const etcd = input.role === 'controlplane' ? ' and its etcd (talosctl etcd status)' : '';
      throw ApplicationFailure.nonRetryable(
        `${describeFailure(error)}, on the call made once more too. Check the node's path to the registry or its mirror (machine.registries)${etcd}, or give a slow pull a longer policy.nodeReadyTimeout, then run the upgrade again.`,
        FAILURE.RegistryUnavailable,
      );
    }
  }
}

/** Pets: upgrade in place, keeping the node's labels and taints; the undo is the old image. */
export async function pets(run: NodeRun): Promise<void> {
  const { input, at } = run;
  run.step('reading labels and taints');
  const before = await run.read.readNodeMetadata(at);
  await (installsBeforeDrain(input) ? installThenReboot(run) : upgradeThenReboot(run));
  run.step('waiting for Ready');
  await run.wait.waitForNodeReady({
    ...at,
    talosVersion: input.to,
    timeoutMs: input.timing.nodeReadyTimeoutMs,
  });
  await keptLabelsAndTaints(run, before);
  await checkBootedNode(run);
}
