import {
  ApiextensionsV1Api,
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  PolicyV1Api,
  type KubeConfig,
} from '@kubernetes/client-node';
import type { ClusterPreset } from './presets.js';
import { abortable } from '../../src/activities/abortable.js';
import { waitUntil } from '../process/managedProcess.js';
import type { LabState } from '../state/labState.js';
import { addonObjects, createAddonObject } from './addonObjects.js';
import { ADDON_CRDS, crdManifest } from './crds.js';
import { registerNode } from './nodeObjects.js';
import { createVolumeObjects, ignoreExists } from './volumes.js';
import { workloadsFor } from './workloads.js';

type Progress = (message: string) => void;

/** Brings a fresh API server to the state of the preset: nodes, add-ons, apps, all Running. */
export async function seedCluster(
  kc: KubeConfig,
  described: ClusterPreset,
  state: LabState,
  progress: Progress,
): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const policy = kc.makeApiClient(PolicyV1Api);
  const extensions = kc.makeApiClient(ApiextensionsV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);

  progress(`registering ${state.nodes.length} nodes`);
  const hasWorkers = state.nodes.some((node) => node.role === 'worker');
  await Promise.all(
    state.nodes.map((node) =>
      registerNode(core, state.cluster, node, hasWorkers && node.role === 'controlplane'),
    ),
  );

  progress('installing add-on CRDs (Rook, Flux, Argo CD)');
  for (const crd of Object.values(ADDON_CRDS))
    await extensions.createCustomResourceDefinition({ body: crdManifest(crd) }).catch(ignoreExists);

  const workloads = workloadsFor(described);
  for (const name of workloads.namespaces)
    await core.createNamespace({ body: { metadata: { name } } }).catch(ignoreExists);
  // Pods are refused until each namespace's default ServiceAccount exists. The controller manager makes
  // them, but under load it may start late (a lab start failed at 60 s beside two busy suites): the lab
  // makes them itself, as the controller would; the controller then finds them there.
  for (const namespace of workloads.namespaces)
    await core
      .createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'default' } } })
      .catch(ignoreExists);
  await waitUntil(
    'default service accounts',
    async (signal) => {
      const { items } = await core.listServiceAccountForAllNamespaces(
        { fieldSelector: 'metadata.name=default' },
        abortable(signal),
      );
      return workloads.namespaces.every((ns) => items.some((sa) => sa.metadata?.namespace === ns));
    },
    { timeoutMs: 120_000 },
  );

  if (described.cluster.storage === 'rook-ceph') await createVolumeObjects(kc);
  progress(
    `starting ${workloads.deployments.length} deployments and ${workloads.daemonSets.length} daemon sets`,
  );
  await Promise.all([
    ...workloads.daemonSets.map((body) =>
      apps.createNamespacedDaemonSet({ namespace: body.metadata?.namespace ?? 'default', body }),
    ),
    ...workloads.deployments.map((body) =>
      apps.createNamespacedDeployment({ namespace: body.metadata?.namespace ?? 'default', body }),
    ),
    ...workloads.pdbs.map((body) =>
      policy.createNamespacedPodDisruptionBudget({ namespace: body.metadata?.namespace ?? 'default', body }),
    ),
  ]);

  // CRDs take a moment to be served after they are Established.
  await waitUntil(
    'the add-on CRDs to be served',
    async (signal) => {
      await custom.listClusterCustomObject(
        {
          group: ADDON_CRDS.cephCluster.group,
          version: ADDON_CRDS.cephCluster.version,
          plural: ADDON_CRDS.cephCluster.plural,
        },
        abortable(signal),
      );
      return true;
    },
    { timeoutMs: 30_000 },
  );
  for (const object of addonObjects(described)) await createAddonObject(custom, object);

  progress('waiting for nodes Ready and pods Running');
  const expectedPods =
    workloads.deployments.reduce((sum, d) => sum + (d.spec?.replicas ?? 1), 0) +
    workloads.daemonSets.reduce(
      (sum, ds) =>
        sum +
        (ds.spec?.template.spec?.nodeSelector ? state.nodes.filter((n) => n.gpu).length : state.nodes.length),
      0,
    );
  await waitUntil(
    `${state.nodes.length} Ready nodes and ${expectedPods} Running pods`,
    async (signal) => {
      const nodes = await core.listNode({}, abortable(signal));
      const ready = nodes.items.filter((n) =>
        n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
      );
      if (ready.length < state.nodes.length) return false;
      const pods = await core.listPodForAllNamespaces(
        { fieldSelector: 'status.phase=Running' },
        abortable(signal),
      );
      return pods.items.length >= expectedPods;
    },
    { timeoutMs: 120_000, intervalMs: 500 },
  );
}

/**
 * Waits for what Talos's controllers put into a new cluster once they run: the bootstrap manifests
 * (CoreDNS, kube-proxy, flannel, as the machine configs enable them; lab/talos-api manifestApply.go),
 * each cluster's first apply recorded, then every kube-system workload rolled out.
 */
export async function waitForBootstrapManifests(
  kc: KubeConfig,
  clusters: Array<{ timeline: ReadonlyArray<{ kind: string }> }>,
  progress: Progress,
): Promise<void> {
  progress("waiting for Talos's bootstrap manifests (CoreDNS, kube-proxy, the CNI)");
  await waitUntil(
    'a control plane node of each cluster to apply the bootstrap manifests',
    () => Promise.resolve(clusters.every((c) => c.timeline.some((e) => e.kind === 'manifests-applied'))),
    { timeoutMs: 120_000, intervalMs: 250 },
  );
  const apps = kc.makeApiClient(AppsV1Api);
  await waitUntil(
    'the kube-system deployments and daemon sets to roll out',
    async (signal) => {
      const namespace = 'kube-system';
      const [deployments, daemonSets] = await Promise.all([
        apps.listNamespacedDeployment({ namespace }, abortable(signal)),
        apps.listNamespacedDaemonSet({ namespace }, abortable(signal)),
      ]);
      return (
        deployments.items.every((d) => (d.status?.availableReplicas ?? 0) >= (d.spec?.replicas ?? 1)) &&
        daemonSets.items.every(
          (ds) =>
            (ds.status?.desiredNumberScheduled ?? 0) > 0 &&
            ds.status?.numberAvailable === ds.status?.desiredNumberScheduled,
        )
      );
    },
    { timeoutMs: 120_000, intervalMs: 500 },
  );
}
