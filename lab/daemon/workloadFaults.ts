import { CoreV1Api, CustomObjectsApi, Watch, type V1Pod } from '@kubernetes/client-node';
import { readyCondition, writeAddonStatus } from '../cluster/addonObjects.js';
import { ADDON_CRDS } from '../cluster/crds.js';
import { withConflictRetry, writeNodeStatus } from '../cluster/nodeObjects.js';
import { POD_EXIT_ANNOTATION } from '../kube/kwokStages.js';
import type { LabNode } from '../state/labState.js';
import { configuresNvidiaRuntime } from './machineFiles.js';
import type { Fault, FaultKind } from '../state/faults.js';
import type { LabCluster } from './labCluster.js';

/**
 * Faults of what runs on a node, not of Talos itself: a Talos release that breaks the node's DNS
 * forwarding or its CNI, a DaemonSet that crash-loops on it, an NVIDIA driver that does not load,
 * GitOps that stops reconciling. Each comes with the node's boot: it holds while the node runs
 * `--version`, or without one from the node's next boot on, so an upgrade brings it and a rollback
 * to the version before takes it away. The health gates find them through the real API server, as
 * they would on a cluster.
 */
export const WORKLOAD_FAULTS = [
  'dns-broken',
  'network-broken',
  'pod-crashloop',
  'pod-not-ready',
  'gpu-driver-fails',
  'flux-not-ready',
  'argocd-degraded',
] as const satisfies readonly FaultKind[];

type WorkloadFault = (typeof WORKLOAD_FAULTS)[number];

export function isWorkloadFault(kind: FaultKind): kind is WorkloadFault {
  return (WORKLOAD_FAULTS as readonly FaultKind[]).includes(kind);
}

/** Whether a workload fault holds for the node on the boot it runs now. */
function holds(fault: Fault, node: LabNode): boolean {
  if (fault.node !== node.name || node.power !== 'running') return false;
  return fault.version ? node.talosVersion === fault.version : node.bootId !== fault.bootId;
}

export function workloadFaultHolds(lab: LabCluster, kind: WorkloadFault, node: LabNode): boolean {
  return lab.faults.some((fault) => fault.kind === kind && holds(fault, node));
}

/**
 * What a GPU node's device plugin advertises: its GPU while its driver works (no `gpu-driver-fails`)
 * and its last boot wrote the GPU patch's NVIDIA runtime config (lab/daemon/machineFiles.ts, a stand-in).
 */
export function gpuResources(lab: LabCluster, node: LabNode): 'advertise' | 'zero' {
  const runtime = configuresNvidiaRuntime(lab.bootFiles(node));
  return workloadFaultHolds(lab, 'gpu-driver-fails', node) || !runtime ? 'zero' : 'advertise';
}

const CRASHLOOP_NAMESPACE = 'kube-system';

/**
 * The node's pod of the kube-system DaemonSet `daemonSet` (kube-proxy, a CNI agent), else its first
 * kube-system DaemonSet pod by name: the one that crash-loops.
 */
async function daemonSetPod(lab: LabCluster, node: string, daemonSet?: string): Promise<V1Pod | undefined> {
  const pods = await lab.core.listNamespacedPod({
    namespace: CRASHLOOP_NAMESPACE,
    fieldSelector: `spec.nodeName=${node}`,
  });
  return pods.items
    .filter((p) =>
      p.metadata?.ownerReferences?.some(
        (o) => o.kind === 'DaemonSet' && (daemonSet === undefined || o.name === daemonSet),
      ),
    )
    .sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''))[0];
}

/**
 * What a kubelet reports for a container that keeps exiting (kubernetes pkg/kubelet/kuberuntime:
 * waiting with reason CrashLoopBackOff between restarts, the pod not Ready), for one that runs but fails
 * its readiness probe (running, not Ready), or, once it is well again, running and Ready.
 */
async function setPodFault(
  lab: LabCluster,
  node: string,
  state: 'crashloop' | 'not-ready' | 'well',
  daemonSet?: string,
): Promise<void> {
  const pod = await daemonSetPod(lab, node, daemonSet);
  const name = pod?.metadata?.name;
  if (!pod || !name) return;
  const crashing = state === 'crashloop';
  await withConflictRetry(async () => {
    const current = await lab.core.readNamespacedPod({ name, namespace: CRASHLOOP_NAMESPACE });
    const now = new Date();
    const status = current.status ?? {};
    const restarts = (status.containerStatuses?.[0]?.restartCount ?? 0) + (crashing ? 5 : 0);
    status.containerStatuses = (current.spec?.containers ?? []).map((c) => ({
      name: c.name,
      image: c.image ?? '',
      imageID: '',
      ready: state === 'well',
      started: !crashing,
      restartCount: restarts,
      state: crashing
        ? {
            waiting: {
              reason: 'CrashLoopBackOff',
              message: `back-off 2m40s restarting failed container=${c.name} pod=${name}`,
            },
          }
        : { running: { startedAt: now } },
      ...(crashing ? { lastState: { terminated: { exitCode: 1, reason: 'Error', finishedAt: now } } } : {}),
    }));
    status.conditions = (status.conditions ?? []).map((cond) =>
      cond.type === 'Ready' || cond.type === 'ContainersReady'
        ? { ...cond, status: state === 'well' ? 'True' : 'False', lastTransitionTime: now }
        : cond,
    );
    current.status = status;
    await lab.core.replaceNamespacedPodStatus({ name, namespace: CRASHLOOP_NAMESPACE, body: current });
  });
}

/** Flux's kustomize-controller on a failed health check (fluxcd/kustomize-controller v1: HealthCheckFailed). */
async function setFlux(lab: LabCluster, failing: boolean): Promise<void> {
  const now = new Date().toISOString();
  const conditions = failing
    ? [
        {
          type: 'Ready',
          status: 'False',
          reason: 'HealthCheckFailed',
          message:
            "health check failed after 5m0s: timeout waiting for: [Deployment/apps/home-assistant status: 'InProgress']",
          lastTransitionTime: now,
        },
      ]
    : readyCondition(now);
  await writeAddonStatus(
    lab.kc.makeApiClient(CustomObjectsApi),
    ADDON_CRDS.kustomization,
    'flux-system',
    'apps',
    { conditions },
  ).catch(ignoreMissing);
}

/** Argo CD's health assessment of an Application whose Deployment has no available replica. */
async function setArgo(lab: LabCluster, degraded: boolean): Promise<void> {
  await writeAddonStatus(
    lab.kc.makeApiClient(CustomObjectsApi),
    ADDON_CRDS.argoApplication,
    'argocd',
    'home-assistant',
    {
      health: degraded
        ? { status: 'Degraded', message: 'Deployment "home-assistant" exceeded its progress deadline' }
        : { status: 'Healthy' },
      sync: { status: 'Synced', revision: '4f1c2d9' },
    },
  ).catch(ignoreMissing);
}

function ignoreMissing(error: unknown): void {
  if ((error as { code?: number }).code !== 404) throw error;
}

/**
 * Makes the cluster match the workload faults of the node's boot: called when it boots (its kubelet
 * registered) and when such a fault is added or cleared (`cleared`: the faults just cleared, whose
 * effects end unless another fault holds them). The GPU's allocatable is the boot's own status write
 * (powerOn), rewritten when a fault changes; the probe pods' outcomes are decided as they start (podOutcomes).
 */
export async function applyWorkloadFaults(
  lab: LabCluster,
  node: LabNode,
  cause: 'boot' | { changed: Fault[] },
): Promise<void> {
  const cleared = cause === 'boot' ? [] : cause.changed;
  const concerned = (kind: WorkloadFault, own: boolean) =>
    [...lab.faults, ...cleared].some((f) => f.kind === kind && (!own || f.node === node.name));
  const anyHolds = (kind: WorkloadFault) => lab.state.nodes.some((n) => workloadFaultHolds(lab, kind, n));
  for (const kind of ['pod-crashloop', 'pod-not-ready'] as const) {
    if (!concerned(kind, true)) continue;
    const fault = [...lab.faults, ...cleared].find((f) => f.kind === kind && f.node === node.name);
    const state = kind === 'pod-crashloop' ? 'crashloop' : 'not-ready';
    await setPodFault(lab, node.name, workloadFaultHolds(lab, kind, node) ? state : 'well', fault?.daemonSet);
  }
  if (concerned('flux-not-ready', false)) await setFlux(lab, anyHolds('flux-not-ready'));
  if (concerned('argocd-degraded', false)) await setArgo(lab, anyHolds('argocd-degraded'));
  // At a boot, powerOn's own status write advertises the GPU or not; a fault changed later rewrites it.
  if (cause !== 'boot' && concerned('gpu-driver-fails', true) && node.power === 'running')
    await writeNodeStatus(lab.core, node, gpuResources(lab, node));
  if (workloadFaultHolds(lab, 'dns-broken', node) || workloadFaultHolds(lab, 'network-broken', node))
    podOutcomes(lab);
}

/** The run-to-completion pods a broken node fails, by what their command does. */
const LOOKUPS = /\b(nslookup|dig|host|getent)\b/;
const CONNECTS = /\b(curl|wget|nc|ping|telnet)\b/;
/** A URL whose host is a name, not an address: its client looks the name up first. */
const NAMED_URL = /\b[a-z]+:\/\/(?!\d+\.\d+\.\d+\.\d+|\[)[^\s/:]+/i;

/**
 * What the probe's process exits with on a broken node: busybox nslookup exits 1 when no server
 * answers; curl exits 6 when it cannot resolve the host and 28 when its connection times out (the
 * lab fails it at once rather than after its --max-time).
 */
export function brokenExitCode(command: string, dns: boolean, network: boolean): number | undefined {
  if (LOOKUPS.test(command)) return dns || network ? 1 : undefined;
  if (CONNECTS.test(command)) {
    if (dns && NAMED_URL.test(command)) return 6;
    if (network) return 28;
  }
  return undefined;
}

const watching = new WeakMap<LabCluster, AbortController>();

/** A node whose pods cannot resolve names or reach anything on the boot it runs. */
function brokenNodes(lab: LabCluster): LabNode[] {
  return lab.state.nodes.filter(
    (n) => workloadFaultHolds(lab, 'dns-broken', n) || workloadFaultHolds(lab, 'network-broken', n),
  );
}

/**
 * Watches the cluster's pods while a node's DNS or network is broken, and marks each run-to-
 * completion pod bound (or pinned) to such a node whose command would fail there: kwok's lab-pod-
 * fails stage then ends it Failed with that exit code (lab/kube/kwokStages.ts). The mark lands as
 * the pod is created, before the scheduler binds it, so kwok does not start it as a healthy one (a
 * mark after that still replaces kwok's pending stage: kwok v0.7.0 pod_controller.go addStageJob).
 * The watch ends at the first event after no node is broken any more, and starts again if the API
 * server closes it while one is.
 */
function podOutcomes(lab: LabCluster): void {
  if (watching.has(lab)) return;
  const controller = new AbortController();
  watching.set(lab, controller);
  const ended = () => {
    if (watching.get(lab) !== controller) return;
    watching.delete(lab);
    if (!controller.signal.aborted && brokenNodes(lab).length > 0) podOutcomes(lab);
  };
  const onPod = (phase: string, pod: V1Pod) => {
    if (phase !== 'ADDED' && phase !== 'MODIFIED') return;
    const broken = brokenNodes(lab);
    if (broken.length === 0) return controller.abort();
    markIfBroken(lab, pod, broken).catch((error: unknown) =>
      lab.record('lab-error', undefined, `pod outcome: ${String(error)}`),
    );
  };
  new Watch(lab.kc).watch('/api/v1/pods', {}, onPod, ended).then((request) => {
    if (controller.signal.aborted) request.abort();
    else controller.signal.addEventListener('abort', () => request.abort(), { once: true });
  }, ended);
}

async function markIfBroken(lab: LabCluster, pod: V1Pod, broken: LabNode[]): Promise<void> {
  const name = pod.metadata?.name;
  const namespace = pod.metadata?.namespace;
  if (!name || !namespace || pod.spec?.restartPolicy !== 'Never') return;
  if (pod.metadata?.deletionTimestamp || pod.metadata?.annotations?.[POD_EXIT_ANNOTATION]) return;
  if (pod.status?.phase && !['Pending', 'Running'].includes(pod.status.phase)) return;
  const target = pod.spec.nodeName ?? pod.spec.nodeSelector?.['kubernetes.io/hostname'];
  const node = broken.find((n) => n.name === target);
  if (!node) return;
  const command = (pod.spec.containers ?? [])
    .map((c) => [...(c.command ?? []), ...(c.args ?? [])].join(' '))
    .join(' ');
  const exit = brokenExitCode(
    command,
    workloadFaultHolds(lab, 'dns-broken', node),
    workloadFaultHolds(lab, 'network-broken', node),
  );
  if (exit === undefined) return;
  const core = lab.kc.makeApiClient(CoreV1Api);
  await withConflictRetry(async () => {
    const current = await core.readNamespacedPod({ name, namespace });
    current.metadata = {
      ...current.metadata,
      annotations: { ...current.metadata?.annotations, [POD_EXIT_ANNOTATION]: String(exit) },
    };
    await core.replaceNamespacedPod({ name, namespace, body: current });
  });
  lab.record('fault-fired', node.name, `${command.split(' ')[0] ?? 'pod'} exits ${exit}`);
}
