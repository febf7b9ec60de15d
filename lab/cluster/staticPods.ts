import type { CoreV1Api, V1Pod } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import type { LabNode } from '../state/labState.js';
import { LAB_LABEL_CLUSTER, withConflictRetry } from './nodeObjects.js';

/** The control plane's static pods, as Talos runs them and the API server shows their mirrors. */
export const STATIC_PODS = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'] as const;
export type StaticPod = (typeof STATIC_PODS)[number];

const CONFIG_KEY: Record<StaticPod, string> = {
  'kube-apiserver': 'apiServer',
  'kube-controller-manager': 'controllerManager',
  'kube-scheduler': 'scheduler',
};

/** The image a machine config gives a static pod (cluster.<component>.image), or Talos's default. */
export function staticPodImage(
  machineConfig: string | undefined,
  pod: StaticPod,
  kubernetesVersion: string,
): string {
  for (const doc of parseAllDocuments(machineConfig ?? '')) {
    const image = doc.getIn(['cluster', CONFIG_KEY[pod], 'image']);
    if (typeof image === 'string' && image) return image;
  }
  return `registry.k8s.io/${pod}:v${kubernetesVersion}`;
}

function mirrorPod(
  cluster: string,
  node: LabNode,
  pod: StaticPod,
  image: string,
  configVersion: string,
): V1Pod {
  return {
    metadata: {
      name: `${pod}-${node.name}`,
      namespace: 'kube-system',
      // The cluster label: a fleet member's view of the shared API server lists its own only.
      labels: { 'k8s-app': pod, tier: 'control-plane', [LAB_LABEL_CLUSTER]: cluster },
      annotations: {
        'kubernetes.io/config.mirror': 'talos-lab',
        // What `talosctl upgrade-k8s` compares with the version of the node's *Config resource.
        'talos.dev/config-version': configVersion,
      },
    },
    spec: {
      // No priorityClassName: the API server creates system-node-critical only some seconds after it
      // starts, and a fleet's first mirror pods come sooner than that.
      nodeName: node.name,
      tolerations: [{ operator: 'Exists' }],
      containers: [{ name: pod, image }],
    },
  };
}

/** A control-plane node's three mirror pods, at the images of its machine config. */
export async function createStaticPods(
  core: CoreV1Api,
  cluster: string,
  node: LabNode,
  machineConfig: string | undefined,
): Promise<void> {
  if (node.role !== 'controlplane') return;
  for (const pod of STATIC_PODS) {
    const body = mirrorPod(
      cluster,
      node,
      pod,
      staticPodImage(machineConfig, pod, node.kubernetesVersion),
      '1',
    );
    await core.createNamespacedPod({ namespace: 'kube-system', body }).catch(async (error: unknown) => {
      if ((error as { code?: number }).code !== 409) throw error;
      await core.deleteNamespacedPod({
        name: body.metadata?.name ?? '',
        namespace: 'kube-system',
        gracePeriodSeconds: 0,
      });
      await core.createNamespacedPod({ namespace: 'kube-system', body });
    });
  }
}

/** Talos restarted a static pod on a new image: its mirror shows the image and the config version. */
export async function updateStaticPod(
  core: CoreV1Api,
  node: LabNode,
  pod: StaticPod,
  image: string,
  configVersion: string,
): Promise<void> {
  const name = `${pod}-${node.name}`;
  // kwok writes the pod's status meanwhile: a stale read is retried, not a failed upgrade.
  await withConflictRetry(async () => {
    const current = await core.readNamespacedPod({ name, namespace: 'kube-system' });
    const container = current.spec?.containers.find((c) => c.name === pod);
    if (container) container.image = image;
    current.metadata = {
      ...current.metadata,
      annotations: { ...current.metadata?.annotations, 'talos.dev/config-version': configVersion },
    };
    await core.replaceNamespacedPod({ name, namespace: 'kube-system', body: current });
  });
}
