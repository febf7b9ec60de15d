import { powerOf, type LabNode } from '../state/labState.js';
import semver from 'semver';
import { bootDefault, installIntoNextSlot } from './bootSlots.js';
import { parseInstallerImage } from './installerImage.js';
import { pullFromRegistry } from './registryPull.js';
import { sleep, TalosApiError, type LabCluster } from './labCluster.js';
import { installedKernelArgs } from './schematics.js';

/** The time machined spends stopping services before the node goes down for its reboot. */
const STOP_SERVICES_MS = 1000;

function etcdRefusal(node: LabNode, why: string): TalosApiError {
  return new TalosApiError(node.ip, 'Unknown', `error validating etcd for upgrade: ${why}`);
}

/**
 * machined's ValidateForUpgrade (internal/pkg/etcd): refused at exactly two members, when a member
 * never started, or when any member (the node itself included) is unhealthy.
 */
function validateEtcdForUpgrade(lab: LabCluster, node: LabNode): void {
  const members = lab.etcdMembers();
  if (members.length === 2) {
    throw etcdRefusal(node, 'etcd member count(2) is insufficient to maintain quorum if upgrade commences');
  }
  for (const member of members) {
    if (member.createdCount > 0 && member.power === 'maintenance')
      throw etcdRefusal(
        node,
        `etcd member ${member.etcd?.id ?? ''} is not started, all members must be running to perform an upgrade`,
      );
    if (!lab.etcdHealthy(member))
      throw etcdRefusal(
        node,
        `etcd member ${member.etcd?.id ?? ''} is not healthy; all members must be healthy to perform an upgrade: context deadline exceeded`,
      );
  }
}

export interface UpgradeRequest {
  image: string;
  force: boolean;
  preserve: boolean;
  stage: boolean;
  /**
   * What the installer's own pre-flight says of this host when it refuses it (the lab Talos API reads
   * it with Talos's compatibility package: internal/machine/installer.go), else empty.
   */
  installerRefusal: string;
}

/**
 * MachineService.Upgrade: the installer is pulled and validated before the call answers
 * (PullAndValidateInstallerImage, v1alpha1_server.go:498-500 at v1.11.3, :530-537 at v1.13.8; one
 * retry of a NotFound, every other error retried for Talos's pull budget, lab/daemon/registryPull.ts),
 * a control plane's etcd is checked (unless forced; from Talos 1.12.9 also not when preserve is set),
 * then the node stops its services, reboots into the new version and comes back. A bad image makes
 * the boot fail and Talos falls back to the old partition (A/B), as the real one does.
 */
export async function startUpgrade(
  lab: LabCluster,
  node: LabNode,
  request: UpgradeRequest,
  /** The RPC's context: a caller gone during the pull leaves the node untouched. */
  signal: AbortSignal,
): Promise<void> {
  const ref = parseInstallerImage(request.image);
  const invalid = `error validating installer image "${request.image}"`;
  if (!ref) throw new TalosApiError(node.ip, 'Unknown', `${invalid}: invalid reference format`);
  const failed = await pullFromRegistry(lab, node, request.image, {
    pullSeconds: lab.timing.imagePullSeconds,
    notFoundRetries: 1,
    signal,
  });
  if (failed) throw new TalosApiError(node.ip, 'Unknown', `${invalid}: ${failed.errors}`);
  const skipsEtcdChecks = request.force || (request.preserve && semver.gte(node.talosVersion, '1.12.9'));
  if (node.role === 'controlplane' && !skipsEtcdChecks) validateEtcdForUpgrade(lab, node);

  lab.record('upgrade-started', node.name, `${node.talosVersion} -> ${ref.version} (${request.image})`);
  if (request.installerRefusal) {
    failedInstall(lab, node, request.installerRefusal);
    return;
  }
  void (async () => {
    // The node keeps running while it installs; only then it stops its services.
    await sleep(lab.timing.installSeconds * 1000 + STOP_SERVICES_MS);
    if (powerOf(node) !== 'running') return; // destroyed or rebooted meanwhile: this upgrade is moot
    // The legacy installer writes the schematic's and machine.install.extraKernelArgs into the boot
    // entry, into the slot after grub.cfg's default, as every install does (lab/daemon/bootSlots.ts).
    installIntoNextSlot(lab, node, {
      version: ref.version,
      schematic: ref.schematic,
      kernelArgs: installedKernelArgs(lab, node, ref.schematic, { withConfig: true }),
    });
    await lab.powerOff(node, 'rebooting');
    await sleep(lab.timing.rebootSeconds * 1000);
    if (powerOf(node) !== 'rebooting') return;
    if (bootDefault(lab, node) === 'boot-loop') return;
    const ready = !lab.fire('not-ready-after-upgrade', node);
    await lab.powerOn(node, { ready });
    lab.record(
      'upgrade-finished',
      node.name,
      `running Talos ${node.talosVersion}${ready ? '' : ', kubelet not Ready'}`,
    );
  })().catch((error: unknown) => lab.record('lab-error', node.name, `lab upgrade failed: ${String(error)}`));
}

/**
 * The upgrade sequence's installer refused the host (its pre-flight, after the sequence stopped the
 * node's services): the sequence fails, and machined counts ten seconds down (here: the lab's reboot time) and
 * reboots the machine in full into the version it runs, nothing written (internal/app/machined/main.go handle at v1.11.3 and
 * v1.12.5; revertBootloader finds nothing to revert).
 */
function failedInstall(lab: LabCluster, node: LabNode, refusal: string): void {
  void (async () => {
    await sleep(STOP_SERVICES_MS);
    if (powerOf(node) !== 'running') return;
    lab.record('installer-refused', node.name, refusal);
    await lab.powerOff(node, 'rebooting');
    await sleep(lab.timing.rebootSeconds * 1000);
    if (powerOf(node) !== 'rebooting') return;
    await lab.powerOn(node);
  })().catch((error: unknown) => lab.record('lab-error', node.name, `lab upgrade failed: ${String(error)}`));
}
