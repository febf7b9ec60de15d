import { VOLUME_APP } from './volumes.js';
import type { V1DaemonSet, V1Deployment, V1PodDisruptionBudget, V1PodSpec } from '@kubernetes/client-node';
import type { ClusterPreset } from './presets.js';

export interface Workloads {
  namespaces: string[];
  daemonSets: V1DaemonSet[];
  deployments: V1Deployment[];
  pdbs: V1PodDisruptionBudget[];
}

/** The namespace and name of the single-replica app whose PDB refuses every eviction. */
export const PDB_PROTECTED_APP = { namespace: 'home-automation', name: 'home-assistant' };

const tolerateEverything: V1PodSpec['tolerations'] = [{ operator: 'Exists' }];

function podSpec(
  image: string,
  extra: Partial<V1PodSpec> = {},
  resources?: Record<string, string>,
): V1PodSpec {
  return {
    containers: [
      {
        name: 'main',
        image,
        resources: {
          requests: { cpu: '50m', memory: '64Mi', ...resources },
          ...(resources ? { limits: resources } : {}),
        },
      },
    ],
    terminationGracePeriodSeconds: 5,
    ...extra,
  };
}

function daemonSet(namespace: string, name: string, image: string): V1DaemonSet {
  const labels = { app: name };
  return {
    metadata: { name, namespace, labels },
    spec: {
      selector: { matchLabels: labels },
      template: { metadata: { labels }, spec: podSpec(image, { tolerations: tolerateEverything }) },
    },
  };
}

function deployment(
  namespace: string,
  name: string,
  image: string,
  replicas: number,
  extra: Partial<V1PodSpec> = {},
  resources?: Record<string, string>,
): V1Deployment {
  const labels = { app: name };
  return {
    metadata: { name, namespace, labels },
    spec: {
      replicas,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: podSpec(
          image,
          {
            // Spread replicas over nodes, as a real cluster's scheduler profile would.
            topologySpreadConstraints: [
              {
                maxSkew: 1,
                topologyKey: 'kubernetes.io/hostname',
                whenUnsatisfiable: 'ScheduleAnyway',
                labelSelector: { matchLabels: labels },
              },
            ],
            ...extra,
          },
          resources,
        ),
      },
    },
  };
}

function pdb(
  namespace: string,
  app: string,
  rule: { minAvailable: number } | { maxUnavailable: number },
): V1PodDisruptionBudget {
  return { metadata: { name: app, namespace }, spec: { selector: { matchLabels: { app } }, ...rule } };
}

export const ROOK_NAMESPACE = 'rook-ceph';
export const OSD_LABEL = 'rook-ceph-osd';

/** The workers that carry Rook's OSDs: the first three (one per host, pools of size 3). */
export function storageHosts(described: ClusterPreset): string[] {
  if (described.cluster.storage !== 'rook-ceph') return [];
  const workers = described.nodes.filter((node) => node.role === 'worker');
  return (workers.length >= 3 ? workers : described.nodes).slice(0, 3).map((node) => node.name);
}

/**
 * Rook's budget for OSDs (Rook v1.18.11 clusterdisruption/osd.go): `rook-ceph-osd` with maxUnavailable
 * 1 over every OSD; with a host, the blocking `rook-ceph-osd-host-<host>` (maxUnavailable 0) it puts
 * on each other host while one is down or the placement groups are not clean.
 */
export function osdBudget(host?: string): V1PodDisruptionBudget {
  return {
    metadata: { name: host ? `${OSD_LABEL}-host-${host}` : OSD_LABEL, namespace: ROOK_NAMESPACE },
    spec: {
      selector: { matchLabels: { app: OSD_LABEL, ...(host ? { 'topology-location-host': host } : {}) } },
      maxUnavailable: host ? 0 : 1,
    },
  };
}

/** One OSD's deployment, as Rook makes it: one replica pinned to its host by the hostname label. */
function osdDeployment(id: number, host: string): V1Deployment {
  const labels = { app: OSD_LABEL, 'ceph-osd-id': String(id), 'topology-location-host': host };
  return {
    metadata: { name: `${OSD_LABEL}-${id}`, namespace: ROOK_NAMESPACE, labels },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: OSD_LABEL, 'ceph-osd-id': String(id) } },
      template: {
        metadata: { labels },
        spec: podSpec('quay.io/ceph/ceph:v19.2.3', { nodeSelector: { 'kubernetes.io/hostname': host } }),
      },
    },
  };
}

/**
 * What runs on the cluster a preset describes: node agents, its GitOps and storage stack, and apps.
 * CoreDNS, kube-proxy and flannel are not here: Talos creates them from its bootstrap manifests
 * (lab/talos-api internal/cosi/manifests.go), as the machine configs enable them.
 */
export function workloadsFor(described: ClusterPreset): Workloads {
  const workers = described.nodes.filter((node) => node.role === 'worker').length;
  const schedulable = workers > 0 ? workers : described.nodes.length;
  const { gitops, storage } = described.cluster;
  const w: Workloads = {
    namespaces: ['kube-system', 'monitoring', 'apps', PDB_PROTECTED_APP.namespace],
    daemonSets: [],
    deployments: [],
    pdbs: [],
  };

  w.daemonSets.push(
    daemonSet('kube-system', 'cilium', 'quay.io/cilium/cilium:v1.18.3'),
    daemonSet('monitoring', 'node-exporter', 'quay.io/prometheus/node-exporter:v1.10.2'),
  );
  w.deployments.push(
    deployment('apps', 'web', 'ghcr.io/homelab/web:1.4.2', schedulable),
    deployment('apps', 'api', 'ghcr.io/homelab/api:2.0.1', 2),
    deployment(
      PDB_PROTECTED_APP.namespace,
      PDB_PROTECTED_APP.name,
      'ghcr.io/home-assistant/home-assistant:2025.11.1',
      1,
    ),
  );
  w.pdbs.push(
    pdb('apps', 'api', { minAvailable: 1 }),
    // The documents' deliberate case: one replica and minAvailable 1, so no eviction is ever allowed.
    pdb(PDB_PROTECTED_APP.namespace, PDB_PROTECTED_APP.name, { minAvailable: 1 }),
  );
  if (gitops === 'flux') {
    w.namespaces.push('flux-system');
    for (const controller of ['source-controller', 'kustomize-controller', 'helm-controller']) {
      w.deployments.push(deployment('flux-system', controller, `ghcr.io/fluxcd/${controller}:v1.7.0`, 1));
    }
  }
  if (gitops === 'argocd') {
    w.namespaces.push('argocd');
    for (const component of ['argocd-server', 'argocd-repo-server', 'argocd-application-controller']) {
      w.deployments.push(deployment('argocd', component, 'quay.io/argoproj/argocd:v3.2.0', 1));
    }
  }
  if (storage !== 'none') {
    w.namespaces.push('rook-ceph');
    w.deployments.push(deployment('rook-ceph', 'rook-ceph-operator', 'docker.io/rook/ceph:v1.18.6', 1));
    w.daemonSets.push(daemonSet('rook-ceph', 'csi-rbdplugin', 'quay.io/cephcsi/cephcsi:v3.15.0'));
    storageHosts(described).forEach((host, id) => w.deployments.push(osdDeployment(id, host)));
    if (storage === 'rook-ceph') {
      w.pdbs.push(osdBudget());
      // An app on an RBD volume (lab/cluster/volumes.ts): its node's drain waits for the detach.
      w.deployments.push(
        deployment(VOLUME_APP.namespace, VOLUME_APP.name, 'ghcr.io/paperless-ngx/paperless-ngx:2.19.5', 1, {
          volumes: [{ name: 'data', persistentVolumeClaim: { claimName: VOLUME_APP.claim } }],
        }),
      );
    }
  }
  if (described.nodes.some((node) => node.gpu)) {
    w.deployments.push(
      deployment(
        'apps',
        'plex',
        'docker.io/plexinc/pms-docker:1.42.2',
        1,
        { nodeSelector: { 'nvidia.com/gpu.present': 'true' } },
        { 'nvidia.com/gpu': '1' },
      ),
    );
    w.daemonSets.push({
      ...daemonSet('kube-system', 'nvidia-device-plugin', 'nvcr.io/nvidia/k8s-device-plugin:v0.18.0'),
      spec: {
        selector: { matchLabels: { app: 'nvidia-device-plugin' } },
        template: {
          metadata: { labels: { app: 'nvidia-device-plugin' } },
          spec: podSpec('nvcr.io/nvidia/k8s-device-plugin:v0.18.0', {
            tolerations: tolerateEverything,
            nodeSelector: { 'nvidia.com/gpu.present': 'true' },
          }),
        },
      },
    });
  }
  return w;
}
