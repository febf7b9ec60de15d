import { createHash } from 'node:crypto';
import type { LabNode } from '../state/labState.js';
import { installIntoNextSlot } from './bootSlots.js';
import { parseInstallerImage, parseKubernetesImage } from './installerImage.js';
import { pullFromRegistry } from './registryPull.js';
import { sleep, TalosApiError, type LabCluster } from './labCluster.js';
import { installedKernelArgs } from './schematics.js';

/**
 * Talos 1.13's install path (LifecycleService and ImageService, internal/app/lifecycle and
 * internal/app/images): the client pulls the installer into one of the node's containerd
 * instances, asks the node to install it into the other boot slot, and reboots the node when it
 * wants to. The install keeps the node up; only the reboot takes it down. Nothing on this path
 * checks etcd: the server's quorum check lives only in the legacy MachineService.Upgrade.
 */

/** The node's kernel command line: Talos's own arguments, then the extra ones it was installed with. */
export function kernelCmdline(node: LabNode): string {
  return [
    // GRUB puts the entry's path first (its label is the slot); a kexec reboot would leave it out.
    `BOOT_IMAGE=/${node.slots?.running ?? 'A'}/vmlinuz`,
    'init_on_alloc=1',
    'slab_nomerge',
    'pti=on',
    'console=ttyS0',
    'printk.devkmsg=on',
    'talos.platform=nocloud',
    ...(node.kernelArgs ?? []),
  ].join(' ');
}

/** Nodes with an install running: machined's lock allows one at a time (gone with the process, as it is). */
const installing = new Set<LabNode>();

function digestOf(image: string): string {
  return createHash('sha256').update(image).digest('hex');
}

/** The name containerd keeps for a pulled image: the reference pinned by its digest. */
function pinnedName(image: string): string {
  return `${image}@sha256:${digestOf(image)}`;
}

/**
 * How long a pull takes: the lab's installer pull time, a quarter of it for a Kubernetes component
 * (kube-apiserver's image is about 30 MB, the kubelet's about 100, an installer 300 and more).
 */
function pullSeconds(lab: LabCluster, image: string): number {
  return parseKubernetesImage(image) ? lab.timing.imagePullSeconds / 4 : lab.timing.imagePullSeconds;
}

/**
 * ImageService.Pull and the legacy MachineService.ImagePull: the image lands in the named containerd
 * instance after the pull time.
 */
export async function pullImage(
  lab: LabCluster,
  node: LabNode,
  image: string,
  namespace: string,
  signal: AbortSignal,
): Promise<{ name: string; layer: string; size: number; millis: number }> {
  const key = `${namespace}/${image}`;
  const started = Date.now();
  const pulled = (node.images ?? []).includes(key);
  // ImageService.Pull retries no NotFound (images.go:97-103 at v1.13.8) and answers it with its own
  // code (:121-122); any other failure as it is, code Unknown, once the budget is spent.
  const failed = await pullFromRegistry(lab, node, image, {
    pullSeconds: pulled ? 0 : pullSeconds(lab, image),
    notFoundRetries: 0,
    signal,
  });
  if (failed?.notFound) throw new TalosApiError(node.ip, 'NotFound', `error pulling image: ${failed.errors}`);
  if (failed) throw new TalosApiError(node.ip, 'Unknown', failed.errors);
  if (!pulled) {
    node.images = [...(node.images ?? []), key];
    lab.record('image-pulled', node.name, image);
  }
  return {
    name: pinnedName(image),
    layer: `sha256:${digestOf(`${image}#layer`).slice(0, 12)}`,
    size: 94_371_840,
    millis: Date.now() - started,
  };
}

/**
 * LifecycleService.Upgrade: the installer of a pulled image writes the slot after grub.cfg's
 * default (lab/daemon/bootSlots.ts); the next boot starts it (or falls back, A/B, when the
 * `boot-fails` fault says so). One install at a time, as machined's lock allows. Under the
 * `kernel-args-dropped` fault (held until cleared, like the node's boot setup it stands for) the new
 * slot boots without the config's extra kernel arguments (the schematic's stay: the installer carries
 * them), as every 1.13 install does on GRUB nodes whose config predates 1.12 (machined's lifecycle Upgrade passes no extra kernel arguments to the
 * installer; siderolabs/talos#13967). An install whose node reboots or is recreated meanwhile is
 * lost, as the installer's container is. Under `install-answer-lost` the install completes and the
 * stream to the client breaks before its exit code (an apid or network blip): the caller cannot
 * tell whether the slot was written.
 */
export async function installUpgrade(
  lab: LabCluster,
  node: LabNode,
  image: string,
  namespace: string,
  /** The installer's pre-flight refusal of this host (lab/talos-api internal/machine/installer.go). */
  refusal?: { message: string; exitCode: number },
): Promise<{ output: string; exitCode: number }> {
  if (installing.has(node)) {
    throw new TalosApiError(
      node.ip,
      'FailedPrecondition',
      'another installation/upgrade is already in progress',
    );
  }
  const ref = parseInstallerImage(image);
  if (!ref || !(node.images ?? []).includes(`${namespace}/${image}`)) {
    throw new TalosApiError(
      node.ip,
      'Internal',
      `upgrade failed: installer image "${image}" not found in containerd store`,
    );
  }
  if (refusal) return refusedInstall(lab, node, ref.version, refusal);
  const boot = `${node.bootId ?? ''}#${node.createdCount}`;
  installing.add(node);
  try {
    await sleep(lab.timing.installSeconds * 1000);
  } finally {
    installing.delete(node);
  }
  if (node.power !== 'running' || `${node.bootId ?? ''}#${node.createdCount}` !== boot) {
    throw new TalosApiError(node.ip, 'Unavailable', 'error reading from server: EOF');
  }
  const dropsArgs = lab.fire('kernel-args-dropped', node);
  const slot = installIntoNextSlot(lab, node, {
    version: ref.version,
    schematic: ref.schematic,
    kernelArgs: installedKernelArgs(lab, node, ref.schematic, { withConfig: !dropsArgs }),
  });
  lab.record(
    'upgrade-installed',
    node.name,
    `Talos ${ref.version} in slot ${slot} for the next boot (${image})${dropsArgs ? ', extra kernel arguments dropped' : ''}`,
  );
  if (lab.fire('install-answer-lost', node))
    throw new TalosApiError(node.ip, 'Unavailable', 'error reading from server: EOF');
  const output = [
    `running installer ${image}`,
    `upgrading from Talos ${node.talosVersion} to ${ref.version}`,
    `installing bootloader into slot ${slot}`,
    'install successful',
  ]
    .map((line) => `${new Date().toISOString()} ${line}\n`)
    .join('');
  return { output, exitCode: 0 };
}

/**
 * The installer's pre-flight refused the host: its log lines, then the error on stderr, and its exit code
 * (cmd/installer: install.go, preflight.go and root.go at v1.14.1). The node keeps running, nothing is
 * written, and the lifecycle call itself ends OK with the code in its stream.
 */
function refusedInstall(
  lab: LabCluster,
  node: LabNode,
  version: string,
  refusal: { message: string; exitCode: number },
): { output: string; exitCode: number } {
  const stamp = new Date().toISOString().replace('T', ' ').replaceAll('-', '/').slice(0, 19);
  const output = [
    `${stamp} running Talos installer v${version}`,
    `${stamp} running pre-flight checks`,
    `${stamp} host Talos version: v${node.talosVersion}`,
    refusal.message,
  ]
    .map((line) => `${line}\n`)
    .join('');
  lab.record('installer-refused', node.name, refusal.message);
  return { output, exitCode: refusal.exitCode };
}
