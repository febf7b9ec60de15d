import { datastoreVolume, newMemberId, powerOf, type LabNode } from '../state/labState.js';
import { freshSlots } from './bootSlots.js';
import { sleep, type LabCluster } from './labCluster.js';
import { factoryDiskImage, schematicKernelArgs } from './schematics.js';

function findByAddressOrName(lab: LabCluster, target: string): LabNode {
  const node = lab.state.nodes.find((n) => n.name === target || n.terraformAddress === target);
  if (!node) throw new Error(`no lab VM named ${target}`);
  return node;
}

/** Non-DaemonSet pods still bound to a node: destroying the VM under them loses work. */
async function boundWorkloadPods(lab: LabCluster, node: string): Promise<string[]> {
  const pods = await lab.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${node}` });
  return pods.items
    .filter((pod) => !pod.metadata?.ownerReferences?.some((owner) => owner.kind === 'DaemonSet'))
    .filter((pod) => !pod.metadata?.annotations?.['kubernetes.io/config.mirror'])
    .filter((pod) => pod.status?.phase !== 'Succeeded' && pod.status?.phase !== 'Failed')
    .map((pod) => `${pod.metadata?.namespace}/${pod.metadata?.name}`);
}

/**
 * `terraform destroy` of a node's VM: it shuts down (its kubelet says NotReady as it goes). Its Node
 * object stays (cordoned if it was) with its pods bound, since nothing in the cluster deletes a Node whose
 * machine went away (kube-controller-manager's node lifecycle controller only marks it and its pods
 * not ready, kubernetes v1.34.1 pkg/controller/nodelifecycle/node_lifecycle_controller.go 741-746):
 * the new VM's kubelet registers into it (lab/cluster/nodeObjects.ts registerNode).
 */
export async function destroyVm(lab: LabCluster, target: string): Promise<string> {
  const node = findByAddressOrName(lab, target);
  return lab.exclusive(node, () => destroyNow(lab, node));
}

async function destroyNow(lab: LabCluster, node: LabNode): Promise<string> {
  if (node.power === 'destroyed') return `${node.name}: already destroyed`;
  const bound = await boundWorkloadPods(lab, node.name);
  if (bound.length > 0)
    lab.violate(
      'destroyed-with-pods',
      `${node.name} destroyed with ${bound.length} workload pods bound: ${bound.slice(0, 5).join(', ')}`,
      'event',
    );
  await lab.powerOff(node, 'destroyed');
  node.destroyedCount += 1;
  // The dead VM's etcd member stays in the member list until someone removes it.
  lab.record('vm-destroyed', node.name, `destroy #${node.destroyedCount}`);
  return `${node.name}: destroyed`;
}

/**
 * What a new VM is made from: the datastore file its disk imports (bpg/proxmox's file_id) on the
 * Proxmox host it is made on, whose download URL names the Image Factory schematic and version.
 */
export interface VmSource {
  version: string;
  file?: string;
  host?: string;
}

/** The schematic and version a new VM boots: what its image holds, never what the lab knew of the node. */
function bootImage(lab: LabCluster, node: LabNode, source: VmSource): { version: string; schematic: string } {
  if (source.file) {
    const url = lab.state.datastore?.[datastoreVolume(source.host ?? node.proxmoxHost, source.file)];
    // Proxmox's answer when a disk names a file its host's datastore does not hold.
    if (url === undefined) throw new Error(`${node.name}: volume '${source.file}' does not exist`);
    const image = factoryDiskImage(url);
    if (image) return image;
  }
  throw new Error(
    `${node.name}: the lab cannot tell which Image Factory image the VM boots: its disk names no downloaded Image Factory image`,
  );
}

/** `terraform apply` of a node's VM: it boots its image into maintenance mode. */
export async function createVm(lab: LabCluster, target: string, source: VmSource): Promise<string> {
  const node = findByAddressOrName(lab, target);
  // A VM that still exists is answered before its image is looked at, as a clone onto a taken VM id is.
  if (node.power !== 'destroyed') {
    if (node.talosVersion === source.version) return `${node.name}: already running Talos ${source.version}`;
    throw new Error(
      `${node.name} still exists at Talos ${node.talosVersion}; destroy it before creating it at ${source.version}`,
    );
  }
  const { version, schematic } = bootImage(lab, node, source);
  if (lab.fire('vm-create-fails', node))
    throw new Error(`${node.name}: clone failed: storage 'local-lvm' has no space left for the disk`);
  await sleep(lab.timing.vmBootSeconds * 1000);
  node.talosVersion = version;
  node.schematic = schematic;
  // The disk image boots the schematic's arguments: its config's install section is never read here
  // (applyMachineConfig below), so machine.install.extraKernelArgs wait for the node's first install.
  node.kernelArgs = schematicKernelArgs(schematic);
  // A new disk: nothing pulled, nothing staged.
  node.images = [];
  freshSlots(node);
  node.createdCount += 1;
  node.nics = lab.fire('nic-missing', node) ? node.expectedNics.slice(0, -1) : node.expectedNics;
  // A new VM has no config yet: it boots into maintenance mode and waits for `apply-config --insecure`.
  lab.machineConfigs.delete(node.name);
  lab.stagedConfigs.delete(node.name);
  lab.forgetBootFiles(node);
  node.foreign = lab.fire('foreign-certificate', node);
  await lab.setPower(node, 'maintenance');
  lab.record(
    'vm-created',
    node.name,
    `Talos ${version}, ${node.nics.length} NICs, schematic ${schematic.slice(0, 12)}…, maintenance mode`,
  );
  return `${node.name}: created at Talos ${version}, waiting for its machine config`;
}

/**
 * The lab's first apply records the VMs it already runs in the Terraform state (the proxmox
 * provider's create, told to adopt): the VM must run, at the version its image names.
 */
export function adoptVm(lab: LabCluster, target: string, version: string): string {
  const node = findByAddressOrName(lab, target);
  if (node.power === 'destroyed' || node.talosVersion !== version)
    throw new Error(
      `${node.name} does not run Talos ${version} (${node.power}, ${node.talosVersion}): nothing to adopt`,
    );
  return `${node.name}: adopted at Talos ${version}`;
}

/**
 * `talosctl apply-config --insecure` on a maintenance-mode node: it reboots and joins, on the version its
 * disk image holds. A VM made from an Image Factory disk image is already installed (the image has a META
 * partition), so Talos skips the install and never reads `machine.install.image` here: the Install
 * sequence runs only when `!Installed() || IsInstallStaged()` (v1alpha1_sequencer.go:158 at v1.11.3 and
 * v1.12.5, :160 at v1.13.8; `Installed()` is "a META volume exists", v1alpha1_state.go:226-264), and
 * install.image is read only in the `!Installed()` branch (v1alpha1_sequencer_tasks.go:1466 at v1.11.3,
 * :1490 at v1.12.5, :1504 at v1.13.8). A role's config naming another version's installer changes nothing.
 */
export async function applyMachineConfig(lab: LabCluster, node: LabNode): Promise<void> {
  lab.record('config-applied', node.name, node.power === 'maintenance' ? 'install and join' : 'running node');
  if (node.power !== 'maintenance') return;
  // The VM this config went to: a destroy (and maybe a new VM) before its join ends the join.
  const vm = node.createdCount;
  const sameVm = (power: LabNode['power']) => node.createdCount === vm && powerOf(node) === power;
  void (async () => {
    // The answer to apply-config leaves before the node reboots into its installed system.
    await sleep(1000);
    const rebooted = await lab.exclusive(node, async () => {
      if (!sameVm('maintenance')) return false;
      await lab.setPower(node, 'rebooting');
      return true;
    });
    if (!rebooted) return;
    await sleep(lab.timing.rebootSeconds * 1000);
    const late = node.role === 'controlplane' ? lab.activeFault('join-delayed', node) : undefined;
    if (late && lab.fire('join-delayed', node)) await sleep((late.seconds ?? 10) * 1000);
    await lab.exclusive(node, () => (sameVm('rebooting') ? join(lab, node) : Promise.resolve()));
  })().catch((error: unknown) => lab.record('lab-error', node.name, `lab join failed: ${String(error)}`));
}

/** The installed system's first boot: etcd, the Node object, the kubelet. Runs inside `lab.exclusive`. */
async function join(lab: LabCluster, node: LabNode): Promise<void> {
  if (node.role === 'controlplane') {
    // A node that joins while its old member is still listed cannot start etcd: the reason for `etcd leave`.
    const stale = node.etcd?.member;
    if (stale) {
      node.etcd = { id: node.etcd?.id ?? newMemberId(node), member: true };
      lab.addFault({ kind: 'etcd-unhealthy', node: node.name });
      lab.record('etcd-joined', node.name, 'old member still listed: etcd cannot start');
    } else {
      node.etcd = { id: newMemberId(node), member: true, learner: true };
      lab.record('etcd-joined', node.name, `member ${node.etcd.id} (learner)`);
      promoteLearner(lab, node);
    }
  }
  const ready = !lab.fire('not-ready-after-upgrade', node);
  await lab.registerFreshNode(node);
  await lab.powerOn(node, { ready, joined: node.role === 'controlplane' });
}

/**
 * machined adds a joining control plane to etcd as a learner (MemberAddAsLearner) and, once its etcd
 * runs, promotes it in the background: MemberPromote every 15 s for up to 10 minutes, refused until
 * the learner has caught up with the leader (internal/app/machined/pkg/system/services/etcd.go,
 * addMember and promoteMember, at v1.11.3, v1.12.5 and v1.13.8). Until then the member holds no vote:
 * the cluster has one voter fewer than it has members. The lab's learner catches up in 1 s, or after
 * the fault `promotion-delayed --seconds`; like machined it tries only while the member's etcd runs,
 * and gives up after 10 minutes, leaving the learner for the next start of etcd to promote.
 */
function promoteLearner(lab: LabCluster, node: LabNode): void {
  const member = node.etcd;
  const late = lab.activeFault('promotion-delayed', node);
  const catchUpMs = late && lab.fire('promotion-delayed', node) ? (late.seconds ?? 30) * 1000 : 1000;
  const giveUpAt = Date.now() + 10 * 60_000;
  void (async () => {
    await sleep(catchUpMs);
    // The same member, still a learner: a destroy, a leave or a rejoin since then ends this promotion.
    while (node.etcd === member && member?.learner && Date.now() < giveUpAt) {
      const promoted = await lab.exclusive(node, () => {
        if (node.etcd !== member || !lab.etcdHealthy(node)) return Promise.resolve(false);
        member.learner = false;
        lab.record('etcd-promoted', node.name, `member ${member.id}`);
        return Promise.resolve(true);
      });
      if (promoted) return;
      await sleep(1000);
    }
  })().catch((error: unknown) =>
    lab.record('lab-error', node.name, `lab promotion failed: ${String(error)}`),
  );
}

function templateNamed(lab: LabCluster, name: string) {
  const template = lab.state.templates.find((t) => t.name === name);
  if (!template) throw new Error(`no lab template named ${name}`);
  return template;
}

export async function buildTemplate(lab: LabCluster, target: string, version: string): Promise<string> {
  const template = templateNamed(lab, target);
  await sleep(lab.timing.templateBuildSeconds * 1000);
  template.talosVersion = version;
  template.builtCount += 1;
  lab.record('template-built', undefined, `${template.name} at Talos ${version}`);
  return `${template.name}: built for Talos ${version}`;
}

/** The lab's first apply records the templates it already has, as `terraform import` would. */
export function adoptTemplate(lab: LabCluster, name: string): string {
  const template = templateNamed(lab, name);
  return `${template.name}: adopted at Talos ${template.talosVersion}`;
}

/** A template's VM deleted (before a rebuild makes it again): nothing runs on it, so nothing stops. */
export function destroyTemplate(lab: LabCluster, name: string): string {
  const template = templateNamed(lab, name);
  lab.record('template-destroyed', undefined, `${template.name} at Talos ${template.talosVersion}`);
  return `${template.name}: destroyed`;
}
