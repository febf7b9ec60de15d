import { CoreV1Api, PatchStrategy, setHeaderOptions, type V1Node, type V1Pod } from '@kubernetes/client-node';
import { PENDING_TAINT } from '../domain/index.js';
import { heartbeat, sleep } from './activityContext.js';
import { osdHost } from './health.js';
import type { ActivityDeps, ClusterHandle } from './deps.js';
import { nonRetryable, retryable } from './errors.js';
import type { WorkspaceQueueOf } from './terraform.js';
import { attachedVolumes, describeAttached, DETACH_WAIT_MS, volumesOf } from './volumeDetach.js';
import type { DrainState } from './workspaceQueue.js';

export interface NodeMetadata {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  taints: Array<{ key: string; value?: string; effect: string }>;
}

export interface DrainResult {
  evicted: string[];
  forced: string[];
  skipped: number;
  /** Replacements a controller put back on the cordoned node (they tolerate its taint). */
  returned?: string[];
}

const status = (error: unknown) => (error as { code?: number }).code;

/** Errors of the API server itself (down, throttling) are retried; a missing node is not. */
function apiFailure(what: string, error: unknown): never {
  const code = status(error);
  if (code === 404) throw nonRetryable('ValidationFailed', `${what}: not found`);
  throw retryable('KubernetesUnavailable', `${what}: ${code ? `HTTP ${code}` : String(error)}`);
}

/**
 * As apiFailure, but a refusal (403) is final: the worker's account lacks a permission, which no retry
 * gives it (`talos-upgrade doctor` lists the ones the product needs).
 */
export function kubernetesFailure(what: string, error: unknown): never {
  if (status(error) === 403)
    throw nonRetryable(
      'ValidationFailed',
      `${what}: the API server refused it (HTTP 403): give the worker's Kubernetes account the permissions talos-upgrade doctor checks`,
    );
  return apiFailure(what, error);
}

function isReady(node: V1Node): boolean {
  return !!node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
}

/** Pods a drain must move: not DaemonSet pods, not mirror pods, not already finished. */
function evictable(pod: V1Pod): boolean {
  if (pod.metadata?.ownerReferences?.some((owner) => owner.kind === 'DaemonSet')) return false;
  if (pod.metadata?.annotations?.['kubernetes.io/config.mirror']) return false;
  return pod.status?.phase !== 'Succeeded' && pod.status?.phase !== 'Failed';
}

/** Taints the node lifecycle controller and the cordon manage: not the operator's. */
const isConditionTaint = (key: string) => key.startsWith('node.kubernetes.io/');

const isPending = (node: V1Node) => (node.spec?.taints ?? []).some((t) => t.key === PENDING_TAINT.key);
const talosImage = (version: string) => `Talos (v${version.replace(/^v/, '')})`;

/**
 * A JSON patch that adds the pending taint at the end of the node's taints or removes it at its index
 * after testing that it is still there: taints someone else changes meanwhile are not lost, and the
 * kubelet's status updates do not conflict as a resourceVersion guard would. A failed test (422), or
 * taints gone since the read, is patched again from a fresh read (patchFromFresh). (A node with no
 * taints at all gets the list whole: a taint put on between the read and the patch is then lost; a
 * JSON patch cannot test for "absent".) What is not given is left as it is: the pending taint, and
 * `spec.unschedulable`, set in the same patch.
 */
function taintPatch(node: V1Node, change: { pending?: boolean; unschedulable?: boolean }): object[] {
  const { pending, unschedulable } = change;
  return [
    ...(pending === undefined ? [] : pendingTaintOps(node, pending)),
    ...(unschedulable === undefined
      ? []
      : [{ op: 'add', path: '/spec/unschedulable', value: unschedulable }]),
  ];
}

function pendingTaintOps(node: V1Node, pending: boolean): object[] {
  const taints = node.spec?.taints;
  if (pending)
    return taints
      ? [{ op: 'add', path: '/spec/taints/-', value: { ...PENDING_TAINT } }]
      : [{ op: 'add', path: '/spec/taints', value: [{ ...PENDING_TAINT }] }];
  const at = (taints ?? []).findIndex((t) => t.key === PENDING_TAINT.key);
  if (at < 0) return [];
  return [
    { op: 'test', path: `/spec/taints/${at}/key`, value: PENDING_TAINT.key },
    { op: 'remove', path: `/spec/taints/${at}` },
  ];
}

/** How many times a node is patched, each from a fresh read after a 422 (see patchFromFresh). */
const TAINT_PATCH_TRIES = 5;

const podName = (pod: V1Pod) => `${pod.metadata?.namespace}/${pod.metadata?.name}`;

/** For a call on something that may be gone: a 404 is undefined, any other error an API failure. */
const unlessGone = (what: string) => (error: unknown) =>
  status(error) === 404 ? undefined : apiFailure(what, error);

/**
 * The boot its Node object last reported (status.nodeInfo.bootID), undefined without a Node. Read
 * before a VM is destroyed or rebooted: its Node outlives the VM and stays Ready for
 * node-monitor-grace-period (50 s at Kubernetes v1.34) after its kubelet stops, so a node back at the
 * version it ran is Ready only once its kubelet has reported another boot.
 */
export async function reportedBootId(c: ClusterHandle, node: string): Promise<string | undefined> {
  const found = await c.kc
    .makeApiClient(CoreV1Api)
    .readNode({ name: node })
    .catch(unlessGone(`reading node ${node}`));
  return found?.status?.nodeInfo?.bootID || undefined;
}

/**
 * Whether a 429 from the Eviction API is a PodDisruptionBudget's refusal. The API server marks those
 * with a `DisruptionBudget` cause (a budget that allows no disruption now, or one it is still
 * processing); a 429 without it is the server's own throttling (API Priority and Fairness), which
 * says nothing about the node's pods. The client hands the Status over as text or as an object.
 */
export function isBudgetRefusal(error: unknown): boolean {
  let body = (error as { body?: unknown }).body;
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body) as unknown;
    } catch {
      return false;
    }
  }
  // StatusCause's Go field `Type` is written as `reason` in JSON.
  const causes = (body as { details?: { causes?: Array<{ reason?: string }> } } | undefined)?.details?.causes;
  return Array.isArray(causes) && causes.some((cause) => cause.reason === 'DisruptionBudget');
}

/**
 * Asks the Eviction API to evict a pod (with `dryRun`, only whether it would): `refused` is a
 * PodDisruptionBudget's 429, `throttled` any other 429 (try again shortly), `gone` a 404; any other
 * error is an API failure.
 */
async function evict(
  api: CoreV1Api,
  pod: V1Pod,
  dryRun = false,
): Promise<'evicted' | 'refused' | 'throttled' | 'gone'> {
  const name = pod.metadata?.name ?? '';
  const namespace = pod.metadata?.namespace ?? '';
  try {
    await api.createNamespacedPodEviction({
      name,
      namespace,
      ...(dryRun ? { dryRun: 'All' } : {}),
      body: { metadata: { name, namespace } },
    });
    return 'evicted';
  } catch (error) {
    if (status(error) === 429) return isBudgetRefusal(error) ? 'refused' : 'throttled';
    if (status(error) === 404) return 'gone';
    apiFailure(`evicting ${podName(pod)}${dryRun ? ' (dry run)' : ''}`, error);
  }
}

export function kubernetesActivities(
  deps: ActivityDeps,
  cluster: (name: string) => ClusterHandle,
  workspaceQueue: WorkspaceQueueOf,
) {
  const core = (name: string) => cluster(name).kc.makeApiClient(CoreV1Api);
  const poll = () => deps.pollIntervalMs ?? 2000;

  /**
   * spec.unschedulable only (no conflict with the kubelet's status updates); an uncordon also takes
   * off the run's pending taint, in the same patch.
   */
  async function setUnschedulable(
    input: { cluster: string; node: string },
    unschedulable: boolean,
  ): Promise<{ changed: boolean }> {
    const api = core(input.cluster);
    const what = `${unschedulable ? 'cordoning' : 'uncordoning'} ${input.node}`;
    const failed = (e: unknown) => apiFailure(what, e);
    const node = await api.readNode({ name: input.node }).catch(failed);
    const changed = await patchFromFresh(api, node, failed, (now) => {
      const unmark = !unschedulable && isPending(now);
      if ((now.spec?.unschedulable ?? false) === unschedulable && !unmark) return undefined;
      return taintPatch(now, unmark ? { pending: false, unschedulable } : { unschedulable });
    });
    return { changed };
  }

  /**
   * Patches a node with the JSON patch `patchOf` makes from it (undefined: it needs none). A 422
   * means its taints changed since it was read (the node lifecycle controller took a not-ready taint
   * off a node that came back): the node is read again and patched from what it has now, a few
   * times, before the failure goes to `failed` (which throws, or says the node is gone: undefined).
   */
  async function patchFromFresh(
    api: CoreV1Api,
    read: V1Node,
    failed: (error: unknown) => undefined,
    patchOf: (node: V1Node) => object[] | undefined,
  ): Promise<boolean> {
    const name = read.metadata?.name ?? '';
    let node = read;
    for (let attempt = 1; ; attempt++) {
      const body = patchOf(node);
      if (!body) return false;
      try {
        await api.patchNode({ name, body }, setHeaderOptions('Content-Type', PatchStrategy.JsonPatch));
        return true;
      } catch (error) {
        if (status(error) !== 422 || attempt >= TAINT_PATCH_TRIES) {
          failed(error);
          return false;
        }
      }
      // A moment's pause: the other client's change is usually one of several (a controller's, a script's).
      await sleep(50 * attempt);
      const fresh = await api.readNode({ name }).catch(failed);
      if (!fresh) return false;
      node = fresh;
    }
  }

  /**
   * Puts on or takes off the pending taint of each node that needs it; a node that is gone is skipped.
   * One list of the cluster's nodes, not a read per node: at the end of a run whose uncordons took
   * every mark off, that list is all the unmarking costs (a fleet's worker pays for each call).
   */
  async function setPending(
    input: { cluster: string; nodes: string[] },
    pending: (node: V1Node) => boolean,
  ): Promise<string[]> {
    const api = core(input.cluster);
    const wanted = new Set(input.nodes);
    const { items } = await api.listNode().catch((e: unknown) => apiFailure('listing the nodes', e));
    const changed = await Promise.all(
      items
        .filter((node) => wanted.has(node.metadata?.name ?? '') && isPending(node) !== pending(node))
        .map((node) => patchPending(api, node, pending)),
    );
    return changed.filter((name): name is string => name !== undefined);
  }

  /** Puts on or takes off one node's mark; the node's name if it was changed. */
  async function patchPending(
    api: CoreV1Api,
    listed: V1Node,
    pending: (node: V1Node) => boolean,
  ): Promise<string | undefined> {
    const name = listed.metadata?.name ?? '';
    const changed = await patchFromFresh(
      api,
      listed,
      unlessGone(`setting the pending taint of ${name}`),
      (node) =>
        isPending(node) === pending(node) ? undefined : taintPatch(node, { pending: pending(node) }),
    );
    return changed ? name : undefined;
  }

  /** Marks the nodes (of those given) not yet running Talos `version` with PENDING_TAINT. */
  async function markNodesPending(input: {
    cluster: string;
    nodes: string[];
    version: string;
  }): Promise<{ marked: string[] }> {
    const done = talosImage(input.version);
    return { marked: await setPending(input, (node) => node.status?.nodeInfo?.osImage !== done) };
  }

  /** Takes PENDING_TAINT off the nodes given: the end of a run, whatever its outcome. */
  async function unmarkNodesPending(input: {
    cluster: string;
    nodes: string[];
  }): Promise<{ unmarked: string[] }> {
    return { unmarked: await setPending(input, () => false) };
  }

  const cordonNode = (input: { cluster: string; node: string }) => setUnschedulable(input, true);
  const uncordonNode = (input: { cluster: string; node: string }) => setUnschedulable(input, false);

  async function podsOn(api: CoreV1Api, node: string): Promise<V1Pod[]> {
    const list = await api
      .listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${node}` })
      .catch((e: unknown) => apiFailure(`listing pods on ${node}`, e));
    return list.items;
  }

  /**
   * Evicts every pod a drain must move through the Eviction API, so PodDisruptionBudgets hold. A 429
   * (budget exhausted) is retried until the graceful timeout; then, only where the inventory allows it,
   * the remaining pods are deleted; otherwise the drain fails with DrainBlocked naming the pods.
   */
  async function drainNode(input: {
    cluster: string;
    node: string;
    timeoutMs?: number;
    force?: boolean;
    /** The node's VM is destroyed and created next (cattle): the drain tells the workspace's queue. */
    recreated?: boolean;
  }): Promise<DrainResult> {
    const c = cluster(input.cluster);
    const timeoutMs = input.timeoutMs ?? c.inventory.policy.drain.timeout;
    const deadline = Date.now() + timeoutMs;
    const queue = input.recreated && c.inventory.terraform ? workspaceQueue(c) : undefined;
    const force = input.force ?? c.inventory.policy.drain.force;
    // A forced drain that a budget blocks still ends at its deadline, and its destroy follows then.
    const report = (state: DrainState) => queue?.drainOf(input.node, state, deadline, force);
    report('draining');
    try {
      const result = await drain(input, c, { timeoutMs, deadline, force }, report);
      report('drained');
      return result;
    } catch (error) {
      report('failed');
      throw error;
    }
  }

  async function drain(
    input: { cluster: string; node: string },
    c: ClusterHandle,
    { timeoutMs, deadline, force }: { timeoutMs: number; deadline: number; force: boolean },
    report: (state: DrainState) => void,
  ): Promise<DrainResult> {
    const api = core(input.cluster);
    // Cordoned first, as `kubectl drain` does: nothing new lands on the node while it empties.
    await setUnschedulable(input, true);
    const evicted = new Set<string>();
    // The pods this drain moved, by uid: the wait below is for them, not for a replacement that a
    // controller puts back on the cordoned node (a pod tolerating every taint lands there again).
    const moved = new Set<string>();
    const uid = (pod: V1Pod) => pod.metadata?.uid ?? podName(pod);
    // Like kubectl drain, the pods to move are those on the node when the drain starts.
    const moving = (await podsOn(api, input.node)).filter(evictable);
    const targets = new Set(moving.map(uid));
    // Their volumes, read now: an ephemeral volume's claim goes with its pod.
    const volumes = await volumesOf(c.kc, moving).catch((e: unknown) =>
      kubernetesFailure(`reading the volume claims of the pods on ${input.node}`, e),
    );
    let blocked: string[] = [];
    for (;;) {
      heartbeat({ node: input.node, step: 'draining', evicted: evicted.size, blockedByPdb: blocked });
      const pods = (await podsOn(api, input.node))
        .filter(evictable)
        .filter((pod) => targets.has(uid(pod)) && !moved.has(uid(pod)))
        .filter((pod) => !pod.metadata?.deletionTimestamp);
      if (pods.length === 0) break;
      blocked = [];
      const throttled: string[] = [];
      for (const pod of pods) {
        const outcome = await evict(api, pod);
        if (outcome === 'evicted') {
          evicted.add(podName(pod));
          moved.add(uid(pod));
        } else if (outcome === 'refused') blocked.push(podName(pod));
        else if (outcome === 'throttled') throttled.push(podName(pod));
      }
      report(blocked.length ? 'blocked' : 'draining');
      if (blocked.length === 0 && throttled.length === 0) continue;
      // Forcing is for pods a budget protects; a pod the server would not even consider is not one.
      if (Date.now() >= deadline && throttled.length > 0)
        throw retryable(
          'KubernetesUnavailable',
          `draining ${input.node}: the API server throttled the evictions of ${throttled.join(', ')} (HTTP 429 without a disruption budget) until the drain timeout`,
        );
      if (Date.now() >= deadline) break;
      await sleep(Math.min(5000, poll()));
    }
    const forced: string[] = [];
    const blockedUids = new Map((await podsOn(api, input.node)).map((pod) => [podName(pod), uid(pod)]));
    if (blocked.length > 0) {
      if (!force) {
        throw nonRetryable(
          'DrainBlocked',
          `draining ${input.node}: PodDisruptionBudgets still refuse to evict ${blocked.join(', ')} after ${Math.round(timeoutMs / 1000)}s. Scale those apps up or relax their PDBs, or allow policy.drain.force in the inventory.`,
          { node: input.node, blocked },
        );
      }
      report('draining');
      for (const pod of blocked) {
        heartbeat({ node: input.node, step: 'forcing', pod });
        const [namespace = '', name = ''] = pod.split('/');
        await api
          .deleteNamespacedPod({ name, namespace })
          .catch((e: unknown) => status(e) === 404 || apiFailure(`deleting ${pod}`, e));
        forced.push(pod);
        moved.add(blockedUids.get(pod) ?? pod);
      }
    }
    // Evicted pods terminate gracefully; the node is drained when they are gone.
    for (;;) {
      const left = (await podsOn(api, input.node)).filter(evictable).filter((pod) => moved.has(uid(pod)));
      if (left.length === 0) break;
      if (Date.now() > deadline + 120_000) {
        throw retryable(
          'KubernetesUnavailable',
          `draining ${input.node}: ${left.length} pods still terminating: ${left.slice(0, 5).map(podName).join(', ')}`,
        );
      }
      heartbeat({ node: input.node, step: 'waiting for evicted pods to terminate', left: left.length });
      await sleep(poll());
    }
    await volumesDetached(input, c, volumes, timeoutMs);
    const onNode = await podsOn(api, input.node);
    const skipped = onNode.length;
    // Replacements that came back to the cordoned node (they tolerate its taint): said, not fought.
    const returned = onNode.filter(evictable).map(podName);
    if (returned.length) heartbeat({ node: input.node, step: 'drained', returnedDespiteCordon: returned });
    return { evicted: [...evicted], forced, skipped, ...(returned.length ? { returned } : {}) };
  }

  /**
   * The drain's last wait: the volumes of the pods it moved detached from the node (their
   * VolumeAttachments gone), for as long again as the drain may take, within DETACH_WAIT_MS. A
   * reboot or destroy with a volume still attached is what corrupts its filesystem or leaves the
   * attachment stuck: on timeout the drain fails, nothing else on the node touched.
   */
  async function volumesDetached(
    input: { cluster: string; node: string },
    c: ClusterHandle,
    volumes: Set<string>,
    timeoutMs: number,
  ): Promise<void> {
    const waitMs = Math.min(Math.max(timeoutMs, DETACH_WAIT_MS.min), DETACH_WAIT_MS.max);
    const until = Date.now() + waitMs;
    for (;;) {
      const attached = await attachedVolumes(c.kc, input.node, volumes).catch((e: unknown) =>
        kubernetesFailure(`listing the VolumeAttachments of ${input.node}`, e),
      );
      if (attached.length === 0) return;
      if (Date.now() >= until)
        throw nonRetryable(
          'VolumesAttached',
          `draining ${input.node}: ${attached.length} volume(s) still attached ${Math.round(waitMs / 1000)}s after its pods left: ${describeAttached(attached)}. Rebooting or destroying the node now could damage them or leave them stuck. Check the CSI driver's attacher (kubectl describe volumeattachment <name>, its controller's log), then run the upgrade again.`,
          { node: input.node, attached },
        );
      heartbeat({ node: input.node, step: 'waiting for volumes to detach', attached: attached.length });
      await sleep(poll());
    }
  }

  /**
   * Until the node is Ready with the Talos (and kubelet) version asked for and, after a rebuild, a
   * boot other than the one its Node reported before the VM was destroyed or rebooted (`goneBootId`): the
   * Node outlives its VM, and stays Ready for a while after its kubelet stops, which a node back at the
   * same version would otherwise pass for.
   */
  async function waitForNodeReady(input: {
    cluster: string;
    node: string;
    talosVersion: string;
    kubernetesVersion?: string;
    goneBootId?: string;
    timeoutMs?: number;
  }): Promise<{ waitedMs: number }> {
    const c = cluster(input.cluster);
    const api = core(input.cluster);
    const started = Date.now();
    const timeoutMs = input.timeoutMs ?? c.inventory.policy.nodeReadyTimeout;
    const wantImage = talosImage(input.talosVersion);
    let seen = 'not registered';
    for (;;) {
      const node = await api.readNode({ name: input.node }).catch(unlessGone(`reading node ${input.node}`));
      if (node) {
        const image = node.status?.nodeInfo?.osImage ?? '?';
        const kubelet = node.status?.nodeInfo?.kubeletVersion ?? '?';
        const oldBoot = input.goneBootId !== undefined && node.status?.nodeInfo?.bootID === input.goneBootId;
        seen = `${isReady(node) ? 'Ready' : 'NotReady'}, ${image}, kubelet ${kubelet}${oldBoot ? ', still the boot from before' : ''}`;
        const kubeletOk =
          !input.kubernetesVersion || kubelet.replace(/^v/, '') === input.kubernetesVersion.replace(/^v/, '');
        if (isReady(node) && image === wantImage && kubeletOk && !oldBoot)
          return { waitedMs: Date.now() - started };
      }
      if (Date.now() - started > timeoutMs) {
        throw nonRetryable(
          'NodeNotReady',
          `${input.node} was not Ready with ${wantImage} within ${Math.round(timeoutMs / 1000)}s (last seen: ${seen})`,
          { node: input.node, seen },
        );
      }
      heartbeat({
        node: input.node,
        step: 'waiting for Ready',
        seen,
        waited: `${Math.round((Date.now() - started) / 1000)}s`,
      });
      await sleep(poll());
    }
  }

  /**
   * Labels, annotations and taints, read before and after a pets upgrade to prove they survived. Not
   * the taints Kubernetes itself sets and clears with the node's conditions (node.kubernetes.io/
   * not-ready, unreachable, unschedulable, …): a node briefly NotReady before its upgrade did not
   * "lose" that taint when it came back Ready. Nor the run's own PENDING_TAINT.
   */
  async function readNodeMetadata(input: { cluster: string; node: string }): Promise<NodeMetadata> {
    const node = await core(input.cluster)
      .readNode({ name: input.node })
      .catch((e: unknown) => apiFailure(`reading node ${input.node}`, e));
    return {
      labels: node.metadata?.labels ?? {},
      annotations: node.metadata?.annotations ?? {},
      taints: (node.spec?.taints ?? [])
        .filter((t) => !isConditionTaint(t.key) && t.key !== PENDING_TAINT.key)
        .map((t) => ({
          key: t.key,
          effect: t.effect,
          ...(t.value ? { value: t.value } : {}),
        })),
    };
  }

  /** The oldest kubelet among the nodes: where a Kubernetes upgrade without a stated "from" starts. */
  async function getKubernetesVersion(input: { cluster: string }): Promise<string> {
    const nodes = await core(input.cluster)
      .listNode()
      .catch((e: unknown) => apiFailure('listing nodes', e));
    const versions = nodes.items
      .map((n) => (n.status?.nodeInfo?.kubeletVersion ?? '').replace(/^v/, ''))
      .filter((v) => /^\d+\.\d+\.\d+$/.test(v))
      .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
    if (!versions[0])
      throw nonRetryable('ValidationFailed', `no node of ${input.cluster} reports a kubelet version`);
    return versions[0];
  }

  /**
   * The nodes (of those given) whose drain a PodDisruptionBudget would block now: a pod on it that the
   * API server refuses to evict (429) in a dry run, which evaluates the budgets exactly as the drain's
   * own evictions will and changes nothing. Such a node takes its drain timeout longer than the rest.
   */
  async function drainBlockedNodes(input: { cluster: string; nodes: string[] }): Promise<string[]> {
    const api = core(input.cluster);
    const refusesEviction = async (pod: V1Pod) => (await evict(api, pod, true)) === 'refused';
    // Nodes side by side: the answer decides which node a lane that is free right now starts.
    const answers = await Promise.all(
      input.nodes.map(async (node) => {
        const verdicts = await Promise.all((await podsOn(api, node)).filter(evictable).map(refusesEviction));
        return verdicts.includes(true);
      }),
    );
    return input.nodes.filter((_, i) => answers[i]);
  }

  /**
   * The nodes that carry Rook-Ceph OSDs (pods labelled app=rook-ceph-osd, by the node they run on or,
   * evicted and Pending, the node they are pinned to). Ceph keeps a pool's copies on different hosts:
   * with two of them down at once, placement groups of a size-3 pool fall below min_size and stop.
   */
  async function storageNodes(input: { cluster: string }): Promise<string[]> {
    const pods = await core(input.cluster)
      .listPodForAllNamespaces({ labelSelector: 'app=rook-ceph-osd' })
      .catch((e: unknown) => apiFailure('listing the Ceph OSD pods', e));
    return [...new Set(pods.items.map((pod) => osdHost(pod) ?? ''))].filter(Boolean).sort();
  }

  return {
    cordonNode,
    uncordonNode,
    drainNode,
    drainBlockedNodes,
    storageNodes,
    markNodesPending,
    unmarkNodesPending,
    waitForNodeReady,
    readNodeMetadata,
    getKubernetesVersion,
  };
}
