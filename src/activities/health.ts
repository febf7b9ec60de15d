import { randomBytes } from 'node:crypto';
import {
  CoreV1Api,
  CustomObjectsApi,
  PolicyV1Api,
  type ApiConstructor,
  type ApiType,
  type V1Pod,
} from '@kubernetes/client-node';
import { cephVerdict, type CephStatusView, type HealthCheckName } from '../domain/index.js';
import { boundedSignal, cancellationSignal, heartbeat, heartbeatWhile, sleep } from './activityContext.js';
import { abortableApiClient } from './abortable.js';
import type { ActivityDeps, ClusterHandle } from './deps.js';

export interface HealthReport {
  node?: string;
  ok: boolean;
  passed: number;
  total: number;
  /**
   * `recovering`: the check found only a recovery in progress that clears by itself (Ceph after an
   * OSD node's reboot), of the cluster or of the node asked about; the gates wait for it.
   */
  failed: Array<{ check: string; diagnostics: string; recovering?: Recovery }>;
  /** "✅ k8s-work-1: 7/7 health checks passed" or the failures, as the PRD words it. */
  summary: string;
}

const TITLES: Record<HealthCheckName, string> = {
  node: 'Node Readiness',
  pods: 'Pod Health',
  ceph: 'Storage Health',
  flux: 'Flux Reconciliation',
  argocd: 'Argo CD Applications',
  dns: 'DNS Resolution',
  network: 'Network Connectivity',
  gpu: 'GPU Availability',
};

const CHECK_TIMEOUT_MS = 30_000;
const TRIES = 3;
const CRITICAL_NAMESPACES = ['kube-system', 'flux-system', 'rook-ceph'];
const PENDING_LIMIT_MS = 5 * 60_000;
const PROBE_POD_DELETE_TIMEOUT_MS = 10_000;

class CheckFailed extends Error {}

/** Whose recovery a check waits for: the node asked about (its own OSDs) or the rest of the cluster. */
export type Recovery = 'node' | 'cluster';

/** A check that found a recovery in progress: not tried again at once, reported for the gate to wait. */
class Recovering extends CheckFailed {
  constructor(
    readonly scope: Recovery,
    message: string,
  ) {
    super(message);
  }
}

/** The host an OSD pod serves: where it runs, or (evicted, Pending) the node it is pinned to. */
export function osdHost(pod: V1Pod): string | undefined {
  return (
    pod.spec?.nodeName ||
    pod.spec?.nodeSelector?.['kubernetes.io/hostname'] ||
    pod.metadata?.labels?.['topology-location-host']
  );
}

const podReady = (pod: V1Pod) =>
  pod.status?.phase === 'Running' &&
  (pod.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');

/** One try of a check: its signal, and API clients of its cluster whose requests end with it. */
interface CheckRun {
  signal: AbortSignal;
  api: <T extends ApiType>(type: ApiConstructor<T>) => T;
}

/**
 * Waits for a check until its signal aborts, and then fails with the signal's reason: the check's
 * own timeout or the activity's cancellation (runCheck tells them apart). Each check gets the signal
 * too, and API clients that end their every request with it (`CheckRun`): a check that loops (a
 * probe pod's poll) stops and cleans up at the same moment, and a request an API server never
 * answers is ended, rather than being left running, its connection open, when only the wait for it
 * ended.
 */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      const reason: unknown = signal.reason;
      reject(reason instanceof Error ? reason : new Error(String(reason)));
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

/**
 * Every object of a custom resource, cluster-wide, in the shape a check reads of it: client-node
 * types custom objects as `object`, so the shape is the check's claim, not a validation.
 */
async function listCustom<T>(
  api: CheckRun['api'],
  group: string,
  version: string,
  plural: string,
): Promise<T[]> {
  const list = (await api(CustomObjectsApi).listClusterCustomObject({ group, version, plural })) as {
    items: T[];
  };
  return list.items;
}

/** AbortSignal.timeout's reason. */
const isTimeout = (error: unknown) => error instanceof Error && error.name === 'TimeoutError';

function podProblems(pods: V1Pod[], now: number): string[] {
  const problems: string[] = [];
  for (const pod of pods) {
    const name = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
    const crash = pod.status?.containerStatuses?.find((s) => s.state?.waiting?.reason === 'CrashLoopBackOff');
    if (crash) problems.push(`${name}: container ${crash.name} in CrashLoopBackOff`);
    const created = pod.metadata?.creationTimestamp
      ? new Date(pod.metadata.creationTimestamp).getTime()
      : now;
    if (pod.status?.phase === 'Pending' && now - created > PENDING_LIMIT_MS)
      problems.push(`${name}: Pending for ${Math.round((now - created) / 60_000)} min`);
  }
  return problems;
}

export function healthActivities(deps: ActivityDeps, cluster: (name: string) => ClusterHandle) {
  /** A short-lived pod that runs one command to completion, optionally on a given node. */
  async function probePod(
    c: ClusterHandle,
    { signal, api }: CheckRun,
    kind: string,
    image: string,
    command: string[],
    node?: string,
  ): Promise<void> {
    const core = api(CoreV1Api);
    // Two nodes' gates may start the same kind of probe in the same millisecond.
    const name = `talos-upgrade-${kind}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
    // The create is inside the `try`: one the signal ends may still have been stored, and must be deleted.
    try {
      await core.createNamespacedPod({
        namespace: 'default',
        body: {
          metadata: {
            name,
            labels: { 'app.kubernetes.io/managed-by': 'talos-upgrade', 'talos-upgrade/check': kind },
          },
          spec: {
            restartPolicy: 'Never',
            ...(node ? { nodeSelector: { 'kubernetes.io/hostname': node } } : {}),
            tolerations: [{ operator: 'Exists' }],
            containers: [
              { name: kind, image, command, resources: { requests: { cpu: '10m', memory: '16Mi' } } },
            ],
          },
        },
      });
      // Polls until the check's time is over: the signal ends the poll, and `finally` deletes the pod.
      while (!signal.aborted) {
        const pod = await core.readNamespacedPod({ name, namespace: 'default' });
        if (pod.status?.phase === 'Succeeded') return;
        if (pod.status?.phase === 'Failed') {
          const reason = pod.status.containerStatuses?.[0]?.state?.terminated;
          throw new CheckFailed(
            `${command.join(' ')} failed on ${pod.spec?.nodeName ?? 'no node'}: exit ${reason?.exitCode ?? '?'} ${reason?.message ?? reason?.reason ?? ''}`.trim(),
          );
        }
        heartbeat({ check: `${kind} pod`, phase: pod.status?.phase ?? 'unknown' });
        await sleep(Math.min(1000, deps.pollIntervalMs ?? 1000));
      }
      throw new CheckFailed(`${kind} pod ${name} did not complete in ${CHECK_TIMEOUT_MS / 1000}s`);
    } finally {
      // The check's signal may have aborted (its timeout, a cancel): the delete gets its own limit, so
      // a silent API server cannot hold the cleanup (and its connection) open for long.
      await abortableApiClient(c.kc, CoreV1Api, AbortSignal.timeout(PROBE_POD_DELETE_TIMEOUT_MS))
        .deleteNamespacedPod({ name, namespace: 'default', gracePeriodSeconds: 0 })
        .catch(() => undefined);
    }
  }

  type Check = (c: ClusterHandle, node: string | undefined, run: CheckRun) => Promise<void>;
  const checks: Record<HealthCheckName, Check> = {
    node: async (_c, node, { api }) => {
      if (!node) return;
      const object = await api(CoreV1Api).readNode({ name: node });
      if (!object.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True'))
        throw new CheckFailed(`${node} is not Ready`);
      if (object.spec?.unschedulable) throw new CheckFailed(`${node} is SchedulingDisabled (cordoned)`);
    },
    pods: async (_c, node, { api }) => {
      const core = api(CoreV1Api);
      const now = Date.now();
      const onNode = node
        ? (await core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${node}` })).items
        : [];
      // One list per critical namespace, not every pod of the cluster: on a busy API server (or a
      // lab fleet) a cluster-wide list is the slowest call of the whole check.
      const critical = (
        await Promise.all(CRITICAL_NAMESPACES.map((namespace) => core.listNamespacedPod({ namespace })))
      ).flatMap((list) => list.items);
      const problems = podProblems([...onNode, ...critical], now);
      if (problems.length) throw new CheckFailed(problems.join('\n'));
    },
    ceph: async (_c, node, { api }) => {
      const clusters = await listCustom<{
        metadata: { name: string; namespace: string };
        spec?: { external?: { enable?: boolean } };
        status?: { ceph?: CephStatusView };
      }>(api, 'ceph.rook.io', 'v1', 'cephclusters');
      if (clusters.length === 0) throw new CheckFailed('no CephCluster object found');
      const recovering: string[] = [];
      for (const item of clusters) {
        const verdict = cephVerdict(item.status?.ceph);
        const name = `CephCluster ${item.metadata.name}`;
        if (verdict.state === 'failed') throw new CheckFailed(`${name}: ${verdict.why}`);
        if (verdict.state === 'recovering') recovering.push(`${name} is recovering: ${verdict.why}`);
        if (item.spec?.external?.enable) continue;
        // Rook's status is up to a minute old (its status interval); the OSD pods and Rook's disruption
        // budgets say what is true now.
        const namespace = item.metadata.namespace;
        const osds = (
          await api(CoreV1Api).listNamespacedPod({ namespace, labelSelector: 'app=rook-ceph-osd' })
        ).items;
        const down = osds.filter((pod) => !podReady(pod));
        const own = down.filter((pod) => node && osdHost(pod) === node);
        if (own.length)
          throw new Recovering(
            'node',
            `${name}: OSD pods of ${node} not Ready yet: ${own.map((p) => p.metadata?.name).join(', ')}`,
          );
        if (down.length)
          recovering.push(
            `${name}: OSD pods not Ready: ${down.map((p) => `${p.metadata?.name} (${osdHost(p) ?? 'no node'})`).join(', ')}`,
          );
        // With managePodBudgets, Rook replaces its rook-ceph-osd budget by ones with maxUnavailable 0
        // for every other failure domain until every PG is active+clean again (Rook v1.18.11
        // pkg/operator/ceph/disruption/clusterdisruption/osd.go): the next OSD node's drain would hang.
        const held = (await api(PolicyV1Api).listNamespacedPodDisruptionBudget({ namespace })).items.filter(
          (pdb) => pdb.metadata?.name?.startsWith('rook-ceph-osd-') && pdb.spec?.maxUnavailable === 0,
        );
        if (held.length)
          recovering.push(
            `${name}: Rook holds OSD disruptions until every placement group is clean (${held.map((p) => p.metadata?.name).join(', ')})`,
          );
      }
      if (recovering.length) throw new Recovering('cluster', recovering.join('\n'));
    },
    flux: async (_c, _node, { api }) => {
      const notReady: string[] = [];
      for (const [group, version, plural] of [
        ['kustomize.toolkit.fluxcd.io', 'v1', 'kustomizations'],
        ['helm.toolkit.fluxcd.io', 'v2', 'helmreleases'],
      ] as const) {
        const items = await listCustom<{
          metadata: { namespace: string; name: string };
          status?: { conditions?: Array<{ type: string; status: string; message?: string }> };
        }>(api, group, version, plural);
        for (const item of items) {
          const ready = item.status?.conditions?.find((x) => x.type === 'Ready');
          if (ready?.status !== 'True')
            notReady.push(
              `${plural} ${item.metadata.namespace}/${item.metadata.name}: ${ready?.message ?? 'not Ready'}`,
            );
        }
      }
      if (notReady.length) throw new CheckFailed(notReady.join('\n'));
    },
    argocd: async (_c, _node, { api }) => {
      const applications = await listCustom<{
        metadata: { name: string };
        status?: { health?: { status?: string }; sync?: { status?: string } };
      }>(api, 'argoproj.io', 'v1alpha1', 'applications');
      const bad = applications.filter(
        (a) => a.status?.health?.status !== 'Healthy' || a.status?.sync?.status !== 'Synced',
      );
      if (bad.length)
        throw new CheckFailed(
          bad
            .map(
              (a) =>
                `${a.metadata.name}: ${a.status?.health?.status ?? '?'}/${a.status?.sync?.status ?? '?'}`,
            )
            .join('\n'),
        );
    },
    dns: (c, node, run) =>
      probePod(c, run, 'dns', 'busybox:1.37', ['nslookup', 'kubernetes.default.svc.cluster.local'], node),
    network: (c, node, run) =>
      probePod(
        c,
        run,
        'network',
        'curlimages/curl:8.17.0',
        ['curl', '-sk', '--max-time', '10', 'https://kubernetes.default.svc:443/healthz'],
        node,
      ),
    gpu: async (c, node, { api }) => {
      const gpuNodes = c.inventory.nodes.filter((n) => n.gpu && (!node || n.name === node));
      const core = api(CoreV1Api);
      for (const gpuNode of gpuNodes) {
        const object = await core.readNode({ name: gpuNode.name });
        const gpus = Number(object.status?.allocatable?.['nvidia.com/gpu'] ?? '0');
        if (gpus < 1)
          throw new CheckFailed(
            `${gpuNode.name}: nvidia.com/gpu allocatable is ${gpus} (expected ≥ 1: the NVIDIA device plugin or the GPU patch is not working)`,
          );
        const plugins = await core.listPodForAllNamespaces({
          fieldSelector: `spec.nodeName=${gpuNode.name}`,
        });
        if (
          !plugins.items.some(
            (p) => p.metadata?.name?.includes('nvidia-device-plugin') && p.status?.phase === 'Running',
          )
        ) {
          throw new CheckFailed(`${gpuNode.name}: no Running nvidia-device-plugin pod`);
        }
      }
    },
  };

  /**
   * One check with its 30 s timeout and 3 tries; undefined when it passed, else the last failure's
   * message and whether it is a recovery in progress (reported at once: the gate waits for it).
   */
  async function runCheck(
    c: ClusterHandle,
    name: HealthCheckName,
    node?: string,
  ): Promise<{ message: string; recovering?: Recovery } | undefined> {
    let last = '';
    // A cancelled gate ends its checks at once (the waits, a probe pod's poll) and tries none again.
    const cancelled = cancellationSignal();
    for (let attempt = 1; attempt <= TRIES; attempt++) {
      try {
        const signal = boundedSignal(CHECK_TIMEOUT_MS);
        const run: CheckRun = { signal, api: (type) => abortableApiClient(c.kc, type, signal) };
        await heartbeatWhile(untilAborted(checks[name](c, node, run), signal), () => ({
          node,
          check: TITLES[name],
          attempt,
        }));
        return undefined;
      } catch (error) {
        // The cancel, not whichever failure of the check came first: the activity ends cancelled.
        if (cancelled?.aborted) throw cancelled.reason instanceof Error ? cancelled.reason : error;
        if (error instanceof Recovering) return { message: error.message, recovering: error.scope };
        if (isTimeout(error)) last = `${TITLES[name]} timed out after ${CHECK_TIMEOUT_MS / 1000}s`;
        else last = error instanceof Error ? error.message : String(error);
        if (attempt < TRIES) await sleep(Math.min(2000, deps.pollIntervalMs ?? 2000));
      }
    }
    return { message: last };
  }

  /**
   * The inventory's health checks, all at once: they only read (or start their own probe pod), so a
   * gate takes as long as its slowest check, not the sum (two probe pods one after the other were
   * most of a gate's time). Never throws for a failed check; failures are reported in policy order.
   */
  async function runHealthChecks(input: { cluster: string; node?: string }): Promise<HealthReport> {
    const c = cluster(input.cluster);
    const names = c.inventory.policy.healthChecks;
    const outcomes = await Promise.all(names.map((name) => runCheck(c, name, input.node)));
    const failed: HealthReport['failed'] = names.flatMap((name, i) => {
      const last = outcomes[i];
      return last === undefined
        ? []
        : [
            {
              check: TITLES[name],
              diagnostics: last.message.split('\n').slice(-10).join('\n'),
              ...(last.recovering ? { recovering: last.recovering } : {}),
            },
          ];
    });
    const passed = names.length - failed.length;
    const who = input.node ?? c.name;
    const list = (entries: typeof failed) => entries.map((f) => f.check).join(', ');
    const broken = failed.filter((f) => !f.recovering);
    const summary =
      failed.length === 0
        ? `✅ ${who}: ${passed}/${names.length} health checks passed`
        : broken.length === 0
          ? `⏳ ${who}: ${passed}/${names.length} health checks passed (recovering: ${list(failed)})`
          : `❌ ${who}: ${passed}/${names.length} health checks passed (failed: ${list(failed)})`;
    return {
      ...(input.node ? { node: input.node } : {}),
      ok: failed.length === 0,
      passed,
      total: names.length,
      failed,
      summary,
    };
  }

  return { runHealthChecks };
}
