import type { LabNode } from '../state/labState.js';
import { imageExists, parseInstallerImage } from './installerImage.js';
import { sleep, TalosApiError, type LabCluster } from './labCluster.js';

/** The checks Talos makes before it accepts an upgrade of a control-plane node. */
function checkEtcdQuorum(lab: LabCluster, node: LabNode): void {
  const members = lab.etcdMembers();
  if (members.length < 3) {
    throw new TalosApiError(
      node.ip,
      'FailedPrecondition',
      `etcd member count(${members.length}) is insufficient to maintain quorum if upgrade commences`,
    );
  }
  const unhealthy = members.find((member) => member !== node && !lab.etcdHealthy(member));
  if (unhealthy) {
    throw new TalosApiError(
      node.ip,
      'FailedPrecondition',
      `etcd member ${unhealthy.etcd?.id ?? ''} is not healthy; all members must be healthy to perform an upgrade`,
    );
  }
}

export interface UpgradeRequest {
  image: string;
  force: boolean;
}

/**
 * `talosctl upgrade`: the node pulls the installer, reboots into it and comes back. A bad image
 * makes the boot fail and Talos falls back to the old partition (A/B), as the real one does.
 * Resolves when the upgrade has been accepted; `done` resolves when the node is back.
 */
export function startUpgrade(
  lab: LabCluster,
  node: LabNode,
  request: UpgradeRequest,
): { done: Promise<void> } {
  if (node.power !== 'running') {
    throw new TalosApiError(
      node.ip,
      'Unavailable',
      `connection error: desc = "transport: Error while dialing: dial tcp ${node.ip}:50000: connect: connection refused"`,
    );
  }
  const ref = parseInstallerImage(request.image);
  if (!ref)
    throw new TalosApiError(
      node.ip,
      'InvalidArgument',
      `error validating installer image "${request.image}": invalid reference format`,
    );
  if (!imageExists(lab, ref)) {
    throw new TalosApiError(
      node.ip,
      'Unknown',
      `error validating installer image "${request.image}": failed to resolve reference "${request.image}": not found`,
    );
  }
  if (node.role === 'controlplane' && node.etcd?.member && !request.force) checkEtcdQuorum(lab, node);

  const from = node.talosVersion;
  const falls = lab.fire('boot-fails', node);
  lab.record('upgrade-started', node.name, `${from} -> ${ref.version} (${request.image})`);
  const done = (async () => {
    await lab.powerOff(node, 'rebooting');
    await sleep(lab.timing.rebootSeconds * 1000);
    if (falls) {
      lab.record('upgrade-fell-back', node.name, `Talos ${ref.version} failed to boot; back on ${from}`);
    } else {
      node.talosVersion = ref.version;
      node.schematic = ref.schematic;
    }
    const ready = !lab.fire('not-ready-after-upgrade', node);
    await lab.powerOn(node, { ready });
    lab.record(
      'upgrade-finished',
      node.name,
      `running Talos ${node.talosVersion}${ready ? '' : ', kubelet not Ready'}`,
    );
  })();
  done.catch((error: unknown) => lab.record('lab-error', node.name, `lab upgrade failed: ${String(error)}`));
  return { done };
}
