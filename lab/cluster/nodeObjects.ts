import type { CoreV1Api, V1Node, V1NodeCondition } from '@kubernetes/client-node';
import { POWER_ANNOTATION } from '../kube/kwokStages.js';
import { loadsNvidiaDriver } from '../daemon/schematics.js';
import type { LabNode } from '../state/labState.js';

export const LAB_LABEL_HOST = 'lab.talos-upgrade/proxmox-host';
/** Which of the lab's clusters a Node belongs to: a fleet shares one API server. */
export const LAB_LABEL_CLUSTER = 'lab.talos-upgrade/cluster';

export function osImage(talosVersion: string): string {
  return `Talos (v${talosVersion})`;
}

/** The labels and taints Talos and the cluster give a node; pets upgrades must keep them. */
function nodeManifest(cluster: string, node: LabNode, tainted: boolean): V1Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: node.name,
      labels: {
        'kubernetes.io/hostname': node.name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        'topology.kubernetes.io/zone': node.proxmoxHost,
        [LAB_LABEL_HOST]: node.proxmoxHost,
        [LAB_LABEL_CLUSTER]: cluster,
        ...(node.role === 'controlplane'
          ? { 'node-role.kubernetes.io/control-plane': '' }
          : { 'node-role.kubernetes.io/worker': '' }),
        ...(node.gpu
          ? { 'nvidia.com/gpu.present': 'true', 'nvidia.com/gpu.product': node.gpu.replace(/\s+/g, '-') }
          : {}),
      },
      annotations: {
        [POWER_ANNOTATION]: node.power === 'running' ? 'on' : 'off',
        // A kubelet's default (--enable-controller-attach-detach): kube-controller-manager attaches and
        // detaches the node's volumes (kubernetes v1.34.4 attach_detach_controller.go:848-854).
        'volumes.kubernetes.io/controller-managed-attach-detach': 'true',
      },
    },
    spec: tainted ? { taints: [{ key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' }] } : {},
  };
}

/** What the kubelet reports about itself: versions, addresses and capacity (kwok owns conditions). */
export function nodeStatusFields(node: LabNode): NonNullable<V1Node['status']> {
  const capacity: Record<string, string> = {
    cpu: '8',
    memory: '32Gi',
    pods: '110',
    'ephemeral-storage': '100Gi',
  };
  // The GPU is the VM's (PCI passthrough), the driver is the image's: a GPU node installed or rebuilt
  // from a schematic without NVIDIA's modules comes back with no nvidia.com/gpu to schedule.
  if (node.gpu && loadsNvidiaDriver(node.schematic)) capacity['nvidia.com/gpu'] = '1';
  return {
    capacity,
    allocatable: capacity,
    addresses: [
      { type: 'InternalIP', address: node.ip },
      { type: 'Hostname', address: node.name },
    ],
    nodeInfo: {
      osImage: osImage(node.talosVersion),
      kubeletVersion: `v${node.kubernetesVersion}`,
      kubeProxyVersion: `v${node.kubernetesVersion}`,
      kernelVersion: '6.12.57-talos',
      containerRuntimeVersion: 'containerd://2.1.5',
      operatingSystem: 'linux',
      architecture: 'amd64',
      machineID: `${node.name.replace(/[^a-z0-9]/g, '')}${node.createdCount}`.padEnd(32, '0').slice(0, 32),
      // A new VM is another machine: Proxmox gives it a new SMBIOS UUID, Talos a new machine id.
      systemUUID: `lab-${node.name}-${node.createdCount}`,
      // A new one at every boot, as /proc/sys/kernel/random/boot_id.
      bootID: node.bootId ?? `${node.name}-${node.createdCount}`,
    },
  };
}

export async function withConflictRetry<T>(action: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await action();
    } catch (error) {
      const code = (error as { code?: number }).code;
      if (code !== 409 || attempt >= 10) throw error;
    }
  }
}

/**
 * Extended resources (a GPU): advertised by a device plugin once it registers with the kubelet, zeroed
 * by a kubelet that finds its Node registered by another machine, kept as they were across a reboot.
 */
export type ExtendedResources = 'advertise' | 'zero' | 'keep';

/** Writes the kubelet-owned status fields, keeping what kwok wrote (conditions). */
export async function writeNodeStatus(
  core: CoreV1Api,
  node: LabNode,
  extended: ExtendedResources = 'advertise',
  options: { notReady?: boolean } = {},
): Promise<void> {
  await withConflictRetry(async () => {
    const current = await core.readNode({ name: node.name });
    const fields: NonNullable<V1Node['status']> = nodeStatusFields(node);
    // A kubelet that has just started posts Ready=False with its first status, in the same write: a
    // Node kept from an earlier VM or boot never shows the new boot beside the old Ready.
    if (options.notReady) fields.conditions = notReadyConditions(current.status?.conditions);
    const gpu = 'nvidia.com/gpu';
    const had = current.status?.capacity?.[gpu];
    const counts = { ...fields.capacity };
    if (extended === 'zero' && (gpu in counts || had !== undefined)) counts[gpu] = '0';
    if (extended === 'keep') {
      delete counts[gpu];
      if (had !== undefined) counts[gpu] = had;
    }
    fields.capacity = counts;
    fields.allocatable = counts;
    current.status = { ...current.status, ...fields };
    await core.replaceNodeStatus({ name: node.name, body: current });
  });
}

export async function setPowerAnnotation(core: CoreV1Api, name: string, on: boolean): Promise<void> {
  await withConflictRetry(async () => {
    const current = await core.readNode({ name });
    current.metadata = {
      ...current.metadata,
      annotations: { ...current.metadata?.annotations, [POWER_ANNOTATION]: on ? 'on' : 'off' },
    };
    await core.replaceNode({ name, body: current });
  });
}

/**
 * Registers the node as its kubelet would after boot: the object, then its status. A Node of that name
 * may outlive its VM (nobody deletes it when Terraform destroys one): the kubelet of the new VM then
 * takes it as it is (kubernetes v1.34.1 pkg/kubelet/kubelet_node_status.go tryRegisterWithAPIServer,
 * 91-134): it rewrites only its default labels (updateDefaultLabels, 231-268: hostname, zone, os,
 * arch), keeps the rest, the spec (a cordon and taints stay: its --register-with-taints and labels
 * go only into a Node it creates, 323-367) and the annotations, and zeroes extended resources until
 * a device plugin registers again (reconcileExtendedResource, 191-205: a new machine has no device
 * manager checkpoint).
 */
export async function registerNode(
  core: CoreV1Api,
  cluster: string,
  node: LabNode,
  tainted: boolean,
): Promise<void> {
  const fresh = nodeManifest(cluster, node, tainted);
  const created = await core.createNode({ body: fresh }).then(
    () => true,
    (error: unknown) => {
      if ((error as { code?: number }).code !== 409) throw error;
      return false;
    },
  );
  if (!created)
    await withConflictRetry(async () => {
      const current = await core.readNode({ name: node.name });
      const labels = { ...current.metadata?.labels };
      for (const key of KUBELET_DEFAULT_LABELS) {
        const value = fresh.metadata?.labels?.[key];
        if (value !== undefined) labels[key] = value;
      }
      // Off until this kubelet turns Ready (powerOn): kwok would otherwise make it Ready again.
      const annotations = { ...current.metadata?.annotations, [POWER_ANNOTATION]: 'off' };
      current.metadata = { ...current.metadata, labels, annotations };
      await core.replaceNode({ name: node.name, body: current });
    });
  await writeNodeStatus(core, node, created ? 'advertise' : 'zero', { notReady: true });
}

function notReadyConditions(conditions: V1NodeCondition[] = []): V1NodeCondition[] {
  const now = new Date();
  const ready: V1NodeCondition = {
    type: 'Ready',
    status: 'False',
    reason: 'KubeletNotReady',
    message: 'container runtime status check may not have completed yet',
    lastHeartbeatTime: now,
    lastTransitionTime: now,
  };
  return [...conditions.filter((c) => c.type !== 'Ready'), ready];
}

/** The labels a kubelet sets on a Node it finds registered already (updateDefaultLabels). */
const KUBELET_DEFAULT_LABELS = [
  'kubernetes.io/hostname',
  'topology.kubernetes.io/zone',
  'kubernetes.io/os',
  'kubernetes.io/arch',
];
