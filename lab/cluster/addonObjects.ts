import type { CustomObjectsApi } from '@kubernetes/client-node';
import type { Inventory } from '../../src/domain/index.js';
import { ADDON_CRDS } from './crds.js';

type Crd = (typeof ADDON_CRDS)[keyof typeof ADDON_CRDS];

export interface AddonObject {
  crd: Crd;
  namespace: string;
  name: string;
  spec: Record<string, unknown>;
  status: Record<string, unknown>;
}

const readyCondition = (now: string) => [
  {
    type: 'Ready',
    status: 'True',
    reason: 'ReconciliationSucceeded',
    message: 'Applied revision: main@sha1:4f1c2d9',
    lastTransitionTime: now,
  },
];

export function cephStatus(health: 'HEALTH_OK' | 'HEALTH_WARN' | 'HEALTH_ERR'): Record<string, unknown> {
  return {
    phase: 'Ready',
    state: 'Created',
    ceph: {
      health,
      details:
        health === 'HEALTH_OK'
          ? {}
          : {
              PG_DEGRADED: {
                severity: health,
                message: 'Degraded data redundancy: 12/3606 objects degraded',
              },
            },
      lastChecked: new Date().toISOString(),
    },
  };
}

/** The GitOps and storage objects the health checks read, with the status their controllers would set. */
export function addonObjects(inventory: Inventory): AddonObject[] {
  const now = new Date().toISOString();
  const objects: AddonObject[] = [];
  if (inventory.cluster.storage !== 'none') {
    objects.push({
      crd: ADDON_CRDS.cephCluster,
      namespace: 'rook-ceph',
      name: 'rook-ceph',
      spec:
        inventory.cluster.storage === 'external-ceph'
          ? { external: { enable: true } }
          : { cephVersion: { image: 'quay.io/ceph/ceph:v19.2.3' } },
      status: cephStatus('HEALTH_OK'),
    });
  }
  if (inventory.cluster.gitops === 'flux') {
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
  if (inventory.cluster.gitops === 'argocd') {
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
): Promise<void> {
  const base = { group: crd.group, version: crd.version, namespace, plural: crd.plural, name };
  const current = (await custom.getNamespacedCustomObject(base)) as Record<string, unknown>;
  await custom.replaceNamespacedCustomObjectStatus({ ...base, body: { ...current, status } });
}
