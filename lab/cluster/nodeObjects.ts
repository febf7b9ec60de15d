import type { CoreV1Api, V1Node } from '@kubernetes/client-node';
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
      annotations: { [POWER_ANNOTATION]: node.power === 'running' ? 'on' : 'off' },
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
      machineID: node.name
        .replace(/[^a-z0-9]/g, '')
        .padEnd(32, '0')
        .slice(0, 32),
      systemUUID: `lab-${node.name}`,
      bootID: `${node.name}-${node.createdCount}-${node.talosVersion}`,
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

/** Writes the kubelet-owned status fields, keeping what kwok wrote (conditions). */
export async function writeNodeStatus(core: CoreV1Api, node: LabNode): Promise<void> {
  await withConflictRetry(async () => {
    const current = await core.readNode({ name: node.name });
    current.status = { ...current.status, ...nodeStatusFields(node) };
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

/** Registers the node as its kubelet would after boot: the object, then its status. */
export async function registerNode(
  core: CoreV1Api,
  cluster: string,
  node: LabNode,
  tainted: boolean,
): Promise<void> {
  await core.createNode({ body: nodeManifest(cluster, node, tainted) });
  await writeNodeStatus(core, node);
}
