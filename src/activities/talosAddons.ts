import {
  AppsV1Api,
  CoreV1Api,
  type KubeConfig,
  type V1DaemonSet,
  type V1Deployment,
  type V1Pod,
} from '@kubernetes/client-node';
import { kubernetesFailure } from './kubernetes.js';

/**
 * The add-ons Talos manages in kube-system: the Deployments and DaemonSets its controllers created
 * from the bootstrap manifests (CoreDNS, kube-proxy, flannel). Talos creates them with field manager
 * `talos` (a create before 1.13, a server-side apply from 1.13: internal/app/machined/pkg/controllers/
 * k8s/manifest_apply.go at v1.11.3 and v1.13.8), so their managedFields name it. `talosctl upgrade-k8s`
 * syncs their manifests only after it has moved every control-plane component and kubelet, then waits
 * for them to roll out (go-kubernetes v0.2.39: 3 minutes per Deployment and 5 per DaemonSet in
 * manifests/rollout.go, 5 minutes of kstatus in ssa/wait.go), and fails the upgrade half-done if one does
 * not. One that is not available now will not be then.
 */
const byTalos = (w: V1Deployment | V1DaemonSet) =>
  (w.metadata?.managedFields ?? []).some((f) => f.manager === 'talos');

const podReady = (pod: V1Pod) =>
  pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;

/** Where a workload's pods are not Ready: `<node>: <reason>` for each. */
async function podsNotReady(core: CoreV1Api, labels: Record<string, string> | undefined): Promise<string[]> {
  if (!labels) return [];
  const selector = Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  const { items } = await core.listNamespacedPod({ namespace: 'kube-system', labelSelector: selector });
  return items
    .filter((pod) => !podReady(pod))
    .map((pod) => {
      const waiting = pod.status?.containerStatuses?.find((c) => c.state?.waiting)?.state?.waiting?.reason;
      return `${pod.spec?.nodeName ?? 'unscheduled'}: ${pod.metadata?.name ?? ''} ${waiting ?? pod.status?.phase ?? 'not Ready'}`;
    });
}

/**
 * Each Talos-managed add-on that is not fully available, as one line: the workload, how many of its
 * pods are available, and where the others are not Ready.
 */
export async function talosAddonsNotAvailable(kc: KubeConfig): Promise<string[]> {
  try {
    return await notAvailable(kc);
  } catch (error) {
    return kubernetesFailure("reading Talos's add-ons in kube-system (Deployments, DaemonSets, pods)", error);
  }
}

async function notAvailable(kc: KubeConfig): Promise<string[]> {
  const apps = kc.makeApiClient(AppsV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  const namespace = 'kube-system';
  const [deployments, daemonSets] = await Promise.all([
    apps.listNamespacedDeployment({ namespace }),
    apps.listNamespacedDaemonSet({ namespace }),
  ]);
  // Each workload's availability in one shape: what it wants, what it has, and its pods' labels.
  const workloads = [
    ...daemonSets.items.filter(byTalos).map((ds) => ({
      what: `DaemonSet ${namespace}/${ds.metadata?.name ?? ''}`,
      unit: 'pods',
      want: ds.status?.desiredNumberScheduled ?? 0,
      have: ds.status?.numberAvailable ?? 0,
      labels: ds.spec?.selector.matchLabels,
    })),
    ...deployments.items.filter(byTalos).map((d) => ({
      what: `Deployment ${namespace}/${d.metadata?.name ?? ''}`,
      unit: 'replicas',
      want: d.spec?.replicas ?? 1,
      have: d.status?.availableReplicas ?? 0,
      labels: d.spec?.selector.matchLabels,
    })),
  ];
  const problems: string[] = [];
  for (const w of workloads.filter((w) => w.have < w.want)) {
    const where = await podsNotReady(core, w.labels);
    problems.push(
      `${w.what}: ${w.have} of ${w.want} ${w.unit} available${where.length ? ` (${where.join('; ')})` : ''}`,
    );
  }
  return problems;
}
