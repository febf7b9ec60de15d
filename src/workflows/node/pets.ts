import { FAILURE } from '../../domain/index.js';
import { failureType } from '../failures.js';
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
  run.saga.add('reinstall the running version', async () => {
    if (nothingInstalled) return;
    await run.undo.installUpgrade({
      ...at,
      version: input.from,
      reinstall: true,
      ...(installedOnBoot ? { installedOnBoot } : {}),
    });
  });
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

/** Before Talos 1.13: `talosctl upgrade` pulls, installs and reboots in one go, after our drain. */
async function upgradeThenReboot(run: NodeRun): Promise<void> {
  const { input, at } = run;
  await cordonAndDrain(run);
  await gateBeforeReboot(run);
  run.step(`upgrading to ${input.to}`);
  run.saga.add('upgrade back', () => upgradeBack(run));
  await run.change.upgradeNodeInPlace({ ...at, version: input.to });
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
