import { AppsV1Api, CoreV1Api, PolicyV1Api, type KubeConfig, type V1PodSpec } from '@kubernetes/client-node';
import { parseDocument } from 'yaml';
import { parsePreset, type ClusterPreset } from './presets.js';
import type { LabState } from '../state/labState.js';
import { LAB_LABEL_CLUSTER, registerNode } from './nodeObjects.js';

/** The name of fleet member `index` (1-based) of a preset: prox-ops-07. */
export function fleetMemberName(preset: string, index: number): string {
  return `${preset}-${String(index).padStart(2, '0')}`;
}

/**
 * The lab's description of one fleet member: the preset with the cluster renamed and every node
 * name prefixed by it (the fleet shares one API server, where Node names must be unique). Members
 * have no Terraform workspace (for 50 clusters it would dominate the lab's start), so their users
 * upgrade in place (pets). Their inventories are their users' to write, with init.
 */
export function fleetMemberPreset(
  exampleText: string,
  name: string,
): { yaml: string; described: ClusterPreset } {
  const doc = parseDocument(exampleText);
  doc.setIn(['cluster', 'name'], name);
  doc.deleteIn(['terraform']);
  doc.setIn(['repository', 'github'], `fleet/${name}`);
  const nodes = doc.getIn(['nodes']) as { items: unknown[] } | undefined;
  for (let i = 0; i < (nodes?.items.length ?? 0); i++) {
    doc.setIn(['nodes', i, 'name'], `${name}-${String(doc.getIn(['nodes', i, 'name']))}`);
    doc.deleteIn(['nodes', i, 'terraformAddress']);
  }
  const yaml = doc.toString();
  return { yaml, described: parsePreset(yaml, `fleet member ${name}`) };
}

function pinned(cluster: string, extra: Partial<V1PodSpec> = {}): V1PodSpec {
  return {
    containers: [
      { name: 'main', image: 'ghcr.io/homelab/web:1.4.2', resources: { requests: { cpu: '10m' } } },
    ],
    terminationGracePeriodSeconds: 2,
    nodeSelector: { [LAB_LABEL_CLUSTER]: cluster },
    ...extra,
  };
}

/**
 * One fleet member on the shared API server: its Nodes, and in a namespace of its own a DaemonSet,
 * an app on every worker and a two-replica app under a PDB, all pinned to its own nodes, so its
 * drains evict real pods that the real scheduler places again inside the same cluster.
 */
export async function seedFleetMember(kc: KubeConfig, state: LabState): Promise<number> {
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const policy = kc.makeApiClient(PolicyV1Api);
  const hasWorkers = state.nodes.some((n) => n.role === 'worker');
  await Promise.all(
    state.nodes.map((node) =>
      registerNode(core, state.cluster, node, hasWorkers && node.role === 'controlplane'),
    ),
  );
  const namespace = state.cluster;
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  const workers = state.nodes.filter((n) => n.role === 'worker').length || state.nodes.length;
  const app = (name: string, replicas: number) => ({
    metadata: { name, namespace, labels: { app: name } },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: pinned(state.cluster) },
    },
  });
  await apps.createNamespacedDaemonSet({
    namespace,
    body: {
      metadata: { name: 'cilium', namespace, labels: { app: 'cilium' } },
      spec: {
        selector: { matchLabels: { app: 'cilium' } },
        template: {
          metadata: { labels: { app: 'cilium' } },
          spec: pinned(state.cluster, { tolerations: [{ operator: 'Exists' }] }),
        },
      },
    },
  });
  await apps.createNamespacedDeployment({ namespace, body: app('web', workers) });
  await apps.createNamespacedDeployment({ namespace, body: app('api', 2) });
  await policy.createNamespacedPodDisruptionBudget({
    namespace,
    body: {
      metadata: { name: 'api', namespace },
      spec: { selector: { matchLabels: { app: 'api' } }, minAvailable: 1 },
    },
  });
  return state.nodes.length + workers + 2;
}
