import type { CustomObjectsApi } from '@kubernetes/client-node';
import type { ClusterPreset } from './presets.js';
import { ADDON_CRDS } from './crds.js';

type Crd = (typeof ADDON_CRDS)[keyof typeof ADDON_CRDS];

export interface AddonObject {
  crd: Crd;
  namespace: string;
  name: string;
  spec: Record<string, unknown>;
  status: Record<string, unknown>;
}

/** Flux's Ready condition of a reconciled object (also what a fault's clear writes back). */
export const readyCondition = (now: string) => [
  {
    type: 'Ready',
    status: 'True',
    reason: 'ReconciliationSucceeded',
    message: 'Applied revision: main@sha1:4f1c2d9',
    lastTransitionTime: now,
  },
];

/** One of Ceph's health checks as Rook copies it into the CephCluster: its code and summary line. */
export interface CephCheck {
  code: string;
  message: string;
  severity?: 'HEALTH_WARN' | 'HEALTH_ERR';
}

/**
 * A CephCluster's status as Rook writes it (Rook v1.18.11 pkg/apis/ceph.rook.io/v1/types.go
 * CephStatus): the worst check's severity as `health`, each check by code with severity and message.
 */
export function cephStatus(checks: CephCheck[], previousHealth = 'HEALTH_OK'): Record<string, unknown> {
  const severity = (c: CephCheck) => c.severity ?? 'HEALTH_WARN';
  const health = checks.some((c) => severity(c) === 'HEALTH_ERR')
    ? 'HEALTH_ERR'
    : checks.length > 0
      ? 'HEALTH_WARN'
      : 'HEALTH_OK';
  const now = new Date().toISOString();
  return {
    phase: 'Ready',
    state: 'Created',
    ceph: {
      health,
      details: Object.fromEntries(checks.map((c) => [c.code, { severity: severity(c), message: c.message }])),
      lastChecked: now,
      previousHealth,
      ...(previousHealth !== health ? { lastChanged: now } : {}),
      fsid: 'a7f64266-0894-4f1e-a635-d0aeee1b5bd4',
    },
  };
}

/** The GitOps and storage objects the health checks read, with the status their controllers would set. */
export function addonObjects(described: ClusterPreset): AddonObject[] {
  const now = new Date().toISOString();
  const objects: AddonObject[] = [];
  if (described.cluster.storage !== 'none') {
    objects.push({
      crd: ADDON_CRDS.cephCluster,
      namespace: 'rook-ceph',
      name: 'rook-ceph',
      spec:
        described.cluster.storage === 'external-ceph'
          ? { external: { enable: true } }
          : {
              cephVersion: { image: 'quay.io/ceph/ceph:v19.2.3' },
              // As Rook's example cluster.yaml sets them: lab/cluster/rookCeph.ts plays what they do.
              disruptionManagement: { managePodBudgets: true, osdMaintenanceTimeout: 30 },
            },
      status: cephStatus([]),
    });
  }
  if (described.cluster.gitops === 'flux') {
    for (const name of ['flux-system', 'infrastructure', 'apps']) {
      objects.push({
        crd: ADDON_CRDS.kustomization,
        namespace: 'flux-system',
        name,
        spec: { interval: '10m', path: `./kubernetes/${name}`, prune: true },
        status: { conditions: readyCondition(now) },
      });
    }
    for (const name of ['home-assistant', 'plex', 'cilium']) {
      objects.push({
        crd: ADDON_CRDS.helmRelease,
        namespace: 'flux-system',
        name,
        spec: { interval: '30m', chart: { spec: { chart: name } } },
        status: { conditions: readyCondition(now) },
      });
    }
  }
  if (described.cluster.gitops === 'argocd') {
    for (const name of ['home-assistant', 'monitoring', 'ingress']) {
      objects.push({
        crd: ADDON_CRDS.argoApplication,
        namespace: 'argocd',
        name,
        spec: { project: 'default', source: { path: `apps/${name}` } },
        status: { health: { status: 'Healthy' }, sync: { status: 'Synced', revision: '4f1c2d9' } },
      });
    }
  }
  return objects;
}

export async function createAddonObject(custom: CustomObjectsApi, object: AddonObject): Promise<void> {
  const { crd, namespace, name } = object;
  const base = { group: crd.group, version: crd.version, namespace, plural: crd.plural };
  await custom.createNamespacedCustomObject({
    ...base,
    body: {
      apiVersion: `${crd.group}/${crd.version}`,
      kind: crd.kind,
      metadata: { name, namespace },
      spec: object.spec,
    },
  });
  await writeAddonStatus(custom, object.crd, namespace, name, object.status);
}

export async function writeAddonStatus(
  custom: CustomObjectsApi,
  crd: Crd,
  namespace: string,
  name: string,
  status: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const base = { group: crd.group, version: crd.version, namespace, plural: crd.plural, name };
  const current = (await custom.getNamespacedCustomObject(base)) as Record<string, unknown>;
  await custom.replaceNamespacedCustomObjectStatus({ ...base, body: { ...current, status } });
  return current;
}
