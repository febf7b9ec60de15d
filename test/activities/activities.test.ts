import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { createServer, type ClientRequest, type IncomingMessage, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CoreV1Api, PatchStrategy, setHeaderOptions, type V1Taint } from '@kubernetes/client-node';
import { CancelledFailure, WorkflowFailedError } from '@temporalio/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { EtcdHealth } from '../../src/activities/talos.js';
import type { HealthReport } from '../../src/activities/health.js';
import { clusterHandles } from '../../src/activities/deps.js';
import { createActivities } from '../../src/activities/index.js';
import { KeepAliveKubeConfig } from '../../src/activities/keepAliveKubeConfig.js';
import { PENDING_TAINT } from '../../src/domain/index.js';
import { PDB_PROTECTED_APP } from '../../lab/cluster/workloads.js';
import { ensureTools } from '../../lab/tools.js';
import type { NotifyResult } from '../../src/activities/notify.js';
import { eventually, labProcesses, nodeReady, startLab, type Lab } from '../lab/labHarness.js';
import { CLUSTER, startActivityHarness, type ActivityHarness } from './activityHarness.js';

let lab: Lab;
let h: ActivityHarness;
beforeAll(async () => {
  lab = await startLab('prox-ops');
  h = await startActivityHarness(lab);
}, 900_000);
afterAll(async () => {
  await h?.stop();
  await lab?.stop();
});

const at = (node: string, extra: Record<string, unknown> = {}) => ({ cluster: CLUSTER, node, ...extra });

/** Moves a node's workloads away the way the workflows will: cordon, then drain (forcing the PDB app). */
async function emptyNode(node: string): Promise<void> {
  await h.call('cordonNode', at(node));
  await h.call('drainNode', at(node, { timeoutMs: 2000, force: true }), { startToCloseSeconds: 120 });
}

/**
 * The boot a node's Node object reports: read before its VM goes, it is what a cattle run passes as
 * goneBootId, since the Node outlives its VM and stays Ready a while (the lab's --node-grace-seconds).
 */
async function bootOf(node: string): Promise<string> {
  return (await lab.core.readNode({ name: node })).status?.nodeInfo?.bootID ?? '';
}

describe('Talos activities', () => {
  it('reads a node version', async () => {
    expect(await h.call('getTalosVersion', at('k8s-work-1'))).toBe('1.11.3');
  });

  it('proves the end of a run: a node left cordoned or on another version is named, etcd as it should be', async () => {
    await h.call('cordonNode', at('k8s-work-1'));
    try {
      const { problems } = await h.call<{ problems: string[] }>('verifyFinalState', {
        cluster: CLUSTER,
        nodes: ['k8s-work-1', 'k8s-work-2'],
        talos: '1.11.4',
      });
      expect(problems).toEqual([
        'k8s-work-1 is still cordoned',
        'k8s-work-1 runs Talos 1.11.3, older than 1.11.4',
        'k8s-work-2 runs Talos 1.11.3, older than 1.11.4',
      ]);
    } finally {
      await h.call('uncordonNode', at('k8s-work-1'));
    }
    expect(
      (
        await h.call<{ problems: string[] }>('verifyFinalState', {
          cluster: CLUSTER,
          nodes: ['k8s-work-1'],
          talos: '1.11.3',
        })
      ).problems,
    ).toEqual([]);
  });

  it('checks etcd: members, quorum, and whether one more member may go down', async () => {
    const healthy = await h.call<EtcdHealth>('checkEtcdHealth', { cluster: CLUSTER });
    // Members are Talos hostnames (here with a domain); the product maps them to nodes by address.
    expect(healthy.members.map((m) => m.hostname).sort()).toEqual([
      'k8s-ctrl-1.lab.internal',
      'k8s-ctrl-2.lab.internal',
      'k8s-ctrl-3.lab.internal',
    ]);
    expect(healthy.members.map((m) => m.node).sort()).toEqual(['k8s-ctrl-1', 'k8s-ctrl-2', 'k8s-ctrl-3']);
    expect(healthy).toMatchObject({ quorum: true, canLoseOne: true, unhealthy: [] });
    // The etcd each runs, Talos 1.11.3's default (a 1.14 hop's pre-flight refuses one below 3.6).
    expect(healthy.versions).toEqual({ 'k8s-ctrl-1': '3.6.5', 'k8s-ctrl-2': '3.6.5', 'k8s-ctrl-3': '3.6.5' });
    await lab.addFault('etcd-unhealthy', { node: 'k8s-ctrl-3' });
    // Its etcd calls hang (the lab plays machined's local etcd client): each member is asked on its
    // own, with its own deadline, so the others still answer and the read ends as a verdict.
    const degraded = await h.call<EtcdHealth>('checkEtcdHealth', { cluster: CLUSTER });
    expect(degraded.unhealthy).toEqual([
      { node: 'k8s-ctrl-3', error: expect.stringContaining('no answer in 10 s') },
    ]);
    expect(degraded.healthy.sort()).toEqual(['k8s-ctrl-1', 'k8s-ctrl-2']);
    expect(degraded).toMatchObject({ quorum: true, canLoseOne: false });
    expect(degraded.members).toHaveLength(3);
    await lab.clearFaults();
  });

  it('takes the etcd snapshot from a member that answers when the first one hangs', async () => {
    await lab.addFault('etcd-unhealthy', { node: 'k8s-ctrl-1' });
    const snapshot = await h.call<{ path: string; node: string }>('takeEtcdSnapshot', { cluster: CLUSTER });
    expect(snapshot.node).toBe('k8s-ctrl-2');
    expect(existsSync(snapshot.path)).toBe(true);
    await lab.clearFaults();
  });

  it('a talosconfig that talosctl cannot read fails the etcd check at once, not retried', async () => {
    const file = lab.env.TALOSCONFIG ?? '';
    const whole = await readFile(file, 'utf8');
    await writeFile(file, 'context: [not a talosconfig\n');
    const failure = await h
      .failure('checkEtcdHealth', { cluster: CLUSTER })
      .finally(() => writeFile(file, whole));
    expect(failure).toMatchObject({ type: 'CommandFailed', nonRetryable: true });
    expect(failure.message).toContain('checking etcd on prox-ops');
  });

  it('takes an etcd snapshot into the backups directory, named by cluster, node and time', async () => {
    const snapshot = await h.call<{ path: string; sizeBytes: number; sha256: string; node: string }>(
      'takeEtcdSnapshot',
      { cluster: CLUSTER },
    );
    expect(snapshot.path).toMatch(new RegExp(`/backups/etcd-prox-ops-k8s-ctrl-1-\\d{4}-.*\\.db$`));
    expect(existsSync(snapshot.path)).toBe(true);
    expect(snapshot.sizeBytes).toBeGreaterThan(1000);
    expect(snapshot.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('upgrades a node in place, proves the new version, and is harmless when repeated', async () => {
    expect(
      await h.call('upgradeNodeInPlace', at('k8s-work-1', { version: '1.11.4' }), {
        startToCloseSeconds: 120,
      }),
    ).toMatchObject({ alreadyAt: false });
    await eventually('k8s-work-1 Ready', () => nodeReady(lab, 'k8s-work-1'));
    expect((await lab.core.readNode({ name: 'k8s-work-1' })).status?.nodeInfo?.osImage).toBe(
      'Talos (v1.11.4)',
    );
    expect(await h.call('upgradeNodeInPlace', at('k8s-work-1', { version: '1.11.4' }))).toMatchObject({
      alreadyAt: true,
    });
  });

  it('fails with VersionMismatch when the new version does not boot (A/B fallback)', async () => {
    await lab.addFault('boot-fails', { node: 'k8s-work-2' });
    const failure = await h.failure('upgradeNodeInPlace', at('k8s-work-2', { version: '1.11.4' }), {
      maxAttempts: 3,
    });
    expect(failure).toMatchObject({ type: 'VersionMismatch', nonRetryable: true });
    expect(failure.message).toMatch(
      /k8s-work-2 runs Talos 1\.11\.3 after the upgrade to 1\.11\.4: .*fell back/,
    );
  });

  it('fails with ImageMissing when the installer does not exist', async () => {
    const failure = await h.failure('upgradeNodeInPlace', at('k8s-work-3', { version: '1.11.9' }), {
      maxAttempts: 3,
    });
    expect(failure).toMatchObject({ type: 'ImageMissing', nonRetryable: true });
    expect(failure.message).toContain('k8s-work-3');
  });

  it('keeps the server-side etcd checks on a 1.12.9 control plane (no --preserve, which skips them from 1.12.9)', async () => {
    await h.call('upgradeNodeInPlace', at('k8s-ctrl-3', { version: '1.12.9' }), { startToCloseSeconds: 120 });
    await eventually('k8s-ctrl-3 Ready', () => nodeReady(lab, 'k8s-ctrl-3'));
    await lab.addFault('etcd-unhealthy', { node: 'k8s-ctrl-2' });
    const failure = await h.failure('upgradeNodeInPlace', at('k8s-ctrl-3', { version: '1.13.0' }), {
      maxAttempts: 3,
    });
    expect(failure).toMatchObject({ type: 'QuorumAtRisk', nonRetryable: true });
    expect(failure.message).toContain('is not healthy; all members must be healthy to perform an upgrade');
    await lab.clearFaults();
  });

  it('applies the global and GPU patches to a GPU node', async () => {
    const result = await h.call<{ applied: string[] }>('applyPatches', at('k8s-work-4'));
    expect(result.applied).toEqual(['talos/patches/global.yaml', 'talos/patches/k8s-work-4/nvidia-gpu.yaml']);
    const read = await lab.talosctl(
      '-n',
      lab.ip('k8s-work-4'),
      'read',
      '/var/etc/nvidia-container-runtime/config.toml',
    );
    expect(read.stdout).toContain('no-cgroups = true');
  });

  it('upgrades Kubernetes after a dry run, and refuses what the running Talos does not support', async () => {
    expect(await h.failure('upgradeKubernetes', { cluster: CLUSTER, version: '1.35.0' })).toMatchObject({
      type: 'UnsupportedUpgrade',
      nonRetryable: true,
    });
    // The dry run's pre-pull finds an image missing on the first controller: refused, nothing moved.
    await lab.addFault('kubernetes-image-missing', { version: '1.34.2' });
    const missing = await h.failure('upgradeKubernetes', { cluster: CLUSTER, version: '1.34.2' });
    await lab.clearFaults();
    expect(missing).toMatchObject({ type: 'ImageMissing', nonRetryable: true });
    expect(missing.message).toContain('cannot pull registry.k8s.io/kube-apiserver:v1.34.2');
    expect(missing.message).toContain('nothing was changed');
    expect((await lab.core.readNode({ name: 'k8s-work-8' })).status?.nodeInfo?.kubeletVersion).toBe(
      'v1.34.1',
    );
    await h.call('upgradeKubernetes', { cluster: CLUSTER, version: '1.34.2' });
    expect((await lab.core.readNode({ name: 'k8s-work-8' })).status?.nodeInfo?.kubeletVersion).toBe(
      'v1.34.2',
    );
  });
});

const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** Puts a node's taints back as a test found them (none: no list at all). */
const putTaintsBack = (node: string, taints: V1Taint[]) =>
  lab.core.patchNode({ name: node, body: { spec: { taints: taints.length ? taints : null } } }, MERGE_PATCH);

/**
 * Another client, the real kubectl, that changes a node right after the activity's next read of
 * `readPath` (once per `arm`). It runs while this process waits (execFileSync), before the worker has
 * the body it read, so the activity's JSON patch always meets a node changed under it: deterministic,
 * where a client changing the node in a tight loop won or lost the race by the machine's load.
 * `seen.refused` counts the 422s the node's patches got.
 */
async function kubectlAfterRead(node: string, readPath: string) {
  const { kubectl } = await ensureTools('kube');
  const nodePath = `/api/v1/nodes/${node}`;
  let change: object[] | undefined;
  const seen = { refused: 0 };
  const onResponse = (message: unknown) => {
    const { request, response } = message as { request: ClientRequest; response: IncomingMessage };
    if (request.path === nodePath && request.method === 'PATCH' && response.statusCode === 422)
      seen.refused += 1;
    if (request.method !== 'GET' || request.path !== readPath || !change) return;
    const patch = change;
    change = undefined;
    execFileSync(kubectl, ['patch', 'node', node, '--type=json', '-p', JSON.stringify(patch)], {
      env: { ...process.env, KUBECONFIG: lab.env.KUBECONFIG ?? '' },
      stdio: 'ignore',
    });
  };
  subscribe('http.client.response.finish', onResponse);
  return {
    seen,
    /** The JSON patch kubectl applies after the next read. */
    arm: (patch: object[]) => (change = patch),
    fired: () => change === undefined,
    close: () => unsubscribe('http.client.response.finish', onResponse),
  };
}

describe('Kubernetes activities', () => {
  it('reuses its TLS connections to the API server (client-node alone opens one per call)', async () => {
    const reused: boolean[] = [];
    const onResponse = (message: unknown) => {
      const { request } = message as { request: ClientRequest };
      if (request.path === '/api/v1/nodes/k8s-work-8') reused.push(request.reusedSocket);
    };
    subscribe('http.client.response.finish', onResponse);
    try {
      // The handle the worker's activities use, so that a worker back on client-node's own fails here.
      const { kc } = clusterHandles(h.deps)(CLUSTER);
      expect(kc).toBeInstanceOf(KeepAliveKubeConfig);
      const core = kc.makeApiClient(CoreV1Api);
      for (let call = 0; call < 5; call++) await core.readNode({ name: 'k8s-work-8' });
      // The first call opens the connection; the four after it go over it.
      expect(reused).toEqual([false, true, true, true, true]);
    } finally {
      unsubscribe('http.client.response.finish', onResponse);
    }
  });

  it('cordons and uncordons, harmlessly when repeated', async () => {
    expect(await h.call('cordonNode', at('k8s-work-8'))).toEqual({ changed: true });
    expect(await h.call('cordonNode', at('k8s-work-8'))).toEqual({ changed: false });
    expect((await lab.core.readNode({ name: 'k8s-work-8' })).spec?.unschedulable).toBe(true);
    expect(await h.call('uncordonNode', at('k8s-work-8'))).toEqual({ changed: true });
    expect(await h.call('uncordonNode', at('k8s-work-8'))).toEqual({ changed: false });
  });

  it('names the nodes whose drain a PDB blocks, by a dry-run eviction that evicts nothing', async () => {
    const pods = await lab.core.listNamespacedPod({ namespace: 'home-automation' });
    const node = pods.items[0]?.spec?.nodeName ?? '';
    const others = ['k8s-work-5', 'k8s-work-8'].filter((n) => n !== node);
    const blocked = await h.call<string[]>('drainBlockedNodes', {
      cluster: CLUSTER,
      nodes: [...others, node],
    });
    expect(blocked).toEqual([node]);
    // A dry run: the pod is still there, on the same node.
    const after = await lab.core.listNamespacedPod({ namespace: 'home-automation' });
    expect(after.items.map((p) => [p.metadata?.uid, p.spec?.nodeName])).toEqual(
      pods.items.map((p) => [p.metadata?.uid, p.spec?.nodeName]),
    );
  });

  it('drain stops at the PDB and fails with DrainBlocked after the graceful timeout when force is off', async () => {
    const pods = await lab.core.listNamespacedPod({ namespace: 'home-automation' });
    const node = pods.items[0]?.spec?.nodeName ?? '';
    await h.call('cordonNode', at(node));
    const failure = await h.failure('drainNode', at(node, { timeoutMs: 3000, force: false }), {
      maxAttempts: 3,
    });
    expect(failure).toMatchObject({ type: 'DrainBlocked', nonRetryable: true });
    expect(failure.message).toMatch(
      new RegExp(
        `draining ${node}: PodDisruptionBudgets still refuse to evict home-automation/home-assistant-`,
      ),
    );
    await h.call('uncordonNode', at(node));
  });

  it('drains a node through the Eviction API, cordoning it first when asked, leaving DaemonSet pods', async () => {
    const node = 'k8s-work-5';
    const result = await h.call<{ evicted: string[]; skipped: number }>(
      'drainNode',
      at(node, { timeoutMs: 10_000, force: true }),
      { startToCloseSeconds: 120 },
    );
    expect((await lab.core.readNode({ name: node })).spec?.unschedulable).toBe(true);
    const left = await lab.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${node}` });
    expect(left.items.every((p) => p.metadata?.ownerReferences?.some((o) => o.kind === 'DaemonSet'))).toBe(
      true,
    );
    expect(result.skipped).toBe(left.items.length);
    await h.call('uncordonNode', at(node));
  });

  it('waitForNodeReady fails with NodeNotReady when the node never turns Ready', async () => {
    await lab.addFault('not-ready-after-upgrade', { node: 'k8s-work-3' });
    // --wait runs out (the node never turns Ready); the retry finds the version already there.
    await h.call('upgradeNodeInPlace', at('k8s-work-3', { version: '1.11.4', timeoutMinutes: 0.1 }), {
      startToCloseSeconds: 120,
      maxAttempts: 2,
    });
    const failure = await h.failure(
      'waitForNodeReady',
      at('k8s-work-3', { talosVersion: '1.11.4', timeoutMs: 3000 }),
    );
    expect(failure).toMatchObject({ type: 'NodeNotReady', nonRetryable: true });
    expect(failure.message).toMatch(
      /k8s-work-3 was not Ready with Talos \(v1\.11\.4\) within 3s \(last seen: NotReady/,
    );
    await h.call('upgradeNodeInPlace', at('k8s-work-3', { version: '1.11.3' }), { startToCloseSeconds: 120 });
    await h.call('waitForNodeReady', at('k8s-work-3', { talosVersion: '1.11.3', timeoutMs: 30_000 }));
  });

  it('reads labels, annotations and taints', async () => {
    const meta = await h.call<{ labels: Record<string, string>; taints: Array<{ key: string }> }>(
      'readNodeMetadata',
      at('k8s-ctrl-1'),
    );
    expect(meta.labels['topology.kubernetes.io/zone']).toBe('baldar');
    expect(meta.taints.map((t) => t.key)).toContain('node-role.kubernetes.io/control-plane');
  });

  it('leaves out the taints Kubernetes sets with a condition (a NotReady moment is no lost taint)', async () => {
    const node = 'k8s-work-8';
    const taints = (await lab.core.readNode({ name: node })).spec?.taints ?? [];
    const patch = (list: typeof taints) =>
      lab.core.patchNode({ name: node, body: { spec: { taints: list } } }, MERGE_PATCH);
    await patch([...taints, { key: 'node.kubernetes.io/not-ready', effect: 'NoSchedule' }]);
    try {
      const meta = await h.call<{ taints: Array<{ key: string }> }>('readNodeMetadata', at(node));
      expect(meta.taints.map((t) => t.key)).not.toContain('node.kubernetes.io/not-ready');
      expect(meta.taints).toHaveLength(taints.length);
    } finally {
      await patch(taints);
    }
  });

  it('marks and unmarks a node that another client changes between the list and the patch (a 422 reads the node again)', async () => {
    const node = 'k8s-work-2';
    const flip = { key: 'example.com/flip', effect: 'NoSchedule' };
    const taints = (await lab.core.readNode({ name: node })).spec?.taints ?? [];
    const keys = async () => (await lab.core.readNode({ name: node })).spec?.taints?.map((t) => t.key);
    // Both activities list the cluster's nodes, then patch the node from that list.
    const other = await kubectlAfterRead(node, '/api/v1/nodes');
    const rounds = 3;
    try {
      for (let i = 0; i < rounds; i++) {
        await putTaintsBack(node, [flip]);
        // The mark appends to the listed taints (`add /spec/taints/-`); kubectl has removed them all.
        other.arm([{ op: 'remove', path: '/spec/taints' }]);
        const { marked } = await h.call<{ marked: string[] }>('markNodesPending', {
          cluster: CLUSTER,
          nodes: [node],
          version: '1.12.0',
        });
        expect(other.fired()).toBe(true);
        expect(marked).toEqual([node]);
        expect(await keys()).toEqual([PENDING_TAINT.key]);
        // The unmark removes the mark at its listed index (after a `test`); kubectl has put a taint before it.
        other.arm([{ op: 'add', path: '/spec/taints/0', value: flip }]);
        const { unmarked } = await h.call<{ unmarked: string[] }>('unmarkNodesPending', {
          cluster: CLUSTER,
          nodes: [node],
        });
        expect(other.fired()).toBe(true);
        expect(unmarked).toEqual([node]);
        // The other client's taint is kept: the unmark patched from the node as it is now.
        expect(await keys()).toEqual([flip.key]);
      }
    } finally {
      other.close();
      await putTaintsBack(node, taints);
    }
    // One refusal per activity a round: its first patch, from the list that kubectl made stale.
    expect(other.seen.refused).toBe(2 * rounds);
  });

  it('uncordons a marked node when another client puts a taint before its mark between its read and its patch (a 422 reads the node again)', async () => {
    const node = 'k8s-work-2';
    const flip = { key: 'example.com/flip', effect: 'NoSchedule' };
    const taints = (await lab.core.readNode({ name: node })).spec?.taints ?? [];
    // The uncordon reads the node, then patches it; its `test` names the mark's old index.
    const other = await kubectlAfterRead(node, `/api/v1/nodes/${node}`);
    const rounds = 3;
    try {
      for (let i = 0; i < rounds; i++) {
        await h.call('markNodesPending', { cluster: CLUSTER, nodes: [node], version: '1.12.0' });
        await h.call('cordonNode', at(node));
        other.arm([{ op: 'add', path: '/spec/taints/0', value: flip }]);
        expect(await h.call('uncordonNode', at(node))).toEqual({ changed: true });
        expect(other.fired()).toBe(true);
        const after = await lab.core.readNode({ name: node });
        expect(after.spec?.unschedulable ?? false).toBe(false);
        expect(after.spec?.taints?.some((t) => t.key === PENDING_TAINT.key) ?? false).toBe(false);
        // The other client's taint is kept: the uncordon patched from the node as it is now.
        expect(after.spec?.taints?.[0]?.key).toBe(flip.key);
        await putTaintsBack(node, taints);
      }
    } finally {
      other.close();
      await putTaintsBack(node, taints);
    }
    // One refusal a round: the first patch, from the read that kubectl made stale.
    expect(other.seen.refused).toBe(rounds);
  });

  it('marks the nodes still to upgrade, so the pods a drain moves land on upgraded ones; uncordon and the run take the marks off', async () => {
    const { namespace } = PDB_PROTECTED_APP;
    const appNode = async () =>
      (await lab.core.listNamespacedPod({ namespace })).items.find((p) => p.status?.phase === 'Running')?.spec
        ?.nodeName;
    const from = (await appNode()) ?? '';
    const upgraded = from === 'k8s-work-13' ? 'k8s-work-14' : 'k8s-work-13';
    const all = h.inventory.nodes.map((n) => n.name);
    const pending = all.filter((n) => n !== upgraded);
    const marks = async () =>
      (await lab.core.listNode()).items
        .filter((n) =>
          n.spec?.taints?.some((t) => t.key === PENDING_TAINT.key && t.effect === PENDING_TAINT.effect),
        )
        .map((n) => n.metadata?.name)
        .sort();
    // A node that runs the run's version already is not marked (earlier tests moved two off 1.11.3).
    const at1113 = (await lab.core.listNode()).items
      .filter((n) => n.status?.nodeInfo?.osImage === 'Talos (v1.11.3)')
      .map((n) => n.metadata?.name ?? '');
    const { marked: notAt1113 } = await h.call<{ marked: string[] }>('markNodesPending', {
      cluster: CLUSTER,
      nodes: all,
      version: '1.11.3',
    });
    expect(notAt1113.length).toBeLessThan(all.length);
    expect(notAt1113.sort()).toEqual(all.filter((n) => !at1113.includes(n)).sort());
    await h.call('unmarkNodesPending', { cluster: CLUSTER, nodes: all });
    try {
      const { marked } = await h.call<{ marked: string[] }>('markNodesPending', {
        cluster: CLUSTER,
        nodes: pending,
        version: '1.12.0',
      });
      expect(marked.sort()).toEqual([...pending].sort());
      expect(await marks()).toEqual([...pending].sort());
      // Not a taint the node could lose in its upgrade: the run's own.
      const meta = await h.call<{ taints: Array<{ key: string }> }>('readNodeMetadata', at(from));
      expect(meta.taints.map((t) => t.key)).not.toContain(PENDING_TAINT.key);

      // The drain forces the single replica off (its PDB allows no eviction): it comes back on the one
      // worker not marked, though thirteen others have room.
      await h.call('drainNode', at(from, { timeoutMs: 1000, force: true }), {
        startToCloseSeconds: 120,
      });
      await eventually(`the app running on ${upgraded}`, async () => (await appNode()) === upgraded, 60_000);
      await h.call('uncordonNode', at(from));
      expect(await marks()).not.toContain(from);
    } finally {
      await h.call('unmarkNodesPending', { cluster: CLUSTER, nodes: all });
    }
    expect(await marks()).toEqual([]);
  });
});

describe('Terraform activities', () => {
  it('initialises, and backs up the state keeping the newest N', async () => {
    await h.call('terraformInit', { cluster: CLUSTER });
    h.inventory.backups.keepTerraformStates = 2;
    let last = { path: '' };
    for (let i = 0; i < 3; i++)
      last = await h.call<{ path: string }>('backupTerraformState', { cluster: CLUSTER });
    expect(last.path).toMatch(new RegExp(`^${lab.dir}/backups/terraform-state/prox-ops-`));
    const files = await readdir(`${lab.dir}/backups/terraform-state`);
    expect(files).toHaveLength(2);
    expect(files.every((f) => /^prox-ops-.*\.tfstate$/.test(f))).toBe(true);
    // Parallel lanes back up at once and prune the same old files (a CI run lost one to ENOENT): many
    // old files make the prunes overlap.
    const dir = `${lab.dir}/backups/terraform-state`;
    for (let i = 0; i < 200; i++) await writeFile(join(dir, `prox-ops-2000-01-01T00-00-${i}.tfstate`), '{}');
    const together = await Promise.all(
      [1, 2, 3, 4].map(() => h.call<{ path: string }>('backupTerraformState', { cluster: CLUSTER })),
    );
    expect(together).toHaveLength(4);
    expect(await readdir(dir)).toHaveLength(2);
  });

  it("reads the state again when it finds it half-written or empty, as while another lane's apply rewrites it", async () => {
    const inventoryDir = dirname(lab.env.TALOS_UPGRADE_INVENTORY ?? '');
    const file = join(resolve(inventoryDir, h.inventory.terraform?.directory ?? ''), 'terraform.tfstate');
    const whole = await readFile(file, 'utf8');
    // Terraform's local backend truncates the file, then writes it: a read can find either.
    for (const cut of [whole.slice(0, Math.floor(whole.length / 2)), '']) {
      await writeFile(file, cut);
      const rewritten = new Promise((done) => setTimeout(done, 1500)).then(() => writeFile(file, whole));
      const backup = await h.call<{ path: string }>('backupTerraformState', { cluster: CLUSTER });
      await rewritten;
      expect(JSON.parse(await readFile(backup.path, 'utf8'))).toEqual(JSON.parse(whole));
    }
    // A state that stays empty is no backup: the activity fails and keeps none.
    const backups = await readdir(`${lab.dir}/backups/terraform-state`);
    await writeFile(file, '');
    const failure = await h
      .failure('backupTerraformState', { cluster: CLUSTER })
      .finally(() => writeFile(file, whole));
    expect(failure).toMatchObject({ type: 'CommandFailed', nonRetryable: true });
    expect(failure.message).toContain('gave no state');
    expect(await readdir(`${lab.dir}/backups/terraform-state`)).toEqual(backups);
  });

  it('retries a held state lock until it is released, then destroys; destroy is harmless when repeated', async () => {
    await emptyNode('k8s-work-16');
    const terraform = h.inventory.terraform;
    if (!terraform) throw new Error('prox-ops has terraform');
    terraform.lockTimeout = 1000;
    await lab.addFault('terraform-lock', { seconds: 4 });
    const started = Date.now();
    const { workflowId, result } = await h.run('destroyNodeVm', at('k8s-work-16'), {
      maxAttempts: 20,
      startToCloseSeconds: 60,
    });
    // With the boot its Node reported: the wait for the next VM's Ready is for another one.
    expect(result).toEqual({ destroyed: true, bootId: expect.any(String) });
    expect(Date.now() - started).toBeGreaterThan(3000);
    const attempts = (await h.history(workflowId)).map((e) => e.attempt ?? 1);
    expect(Math.max(...attempts)).toBeGreaterThan(1);
    // Gone already: the Node it left still says which boot was the last.
    expect(await h.call('destroyNodeVm', at('k8s-work-16'))).toEqual({
      destroyed: false,
      bootId: (result as { bootId?: string }).bootId,
    });
    terraform.lockTimeout = 300_000;
  });

  it('reports a held lock as a retryable TerraformLocked failure', async () => {
    const terraform = h.inventory.terraform;
    if (!terraform) throw new Error('prox-ops has terraform');
    terraform.lockTimeout = 1000;
    await lab.addFault('terraform-lock', { seconds: 5 });
    const failure = await h.failure('createNodeVm', at('k8s-work-16', { version: '1.11.3' }), {
      maxAttempts: 1,
    });
    expect(failure).toMatchObject({ type: 'TerraformLocked', nonRetryable: false });
    terraform.lockTimeout = 300_000;
  });

  it('recreates the VM, configures it, and it joins Ready at the version', async () => {
    // The destroyed VM's Node still reports its last boot (and may still say Ready).
    const goneBootId = await bootOf('k8s-work-16');
    await h.call('createNodeVm', at('k8s-work-16', { version: '1.11.3' }), {
      maxAttempts: 10,
      startToCloseSeconds: 120,
    });
    // Sent only once the new VM answered the insecure maintenance API in stage maintenance.
    expect(await h.call('applyMachineConfig', at('k8s-work-16'))).toEqual({
      applied: true,
      reason:
        'k8s-work-16 answered the insecure maintenance API in stage maintenance, and no certificate of the cluster',
    });
    await h.call(
      'waitForNodeReady',
      at('k8s-work-16', { talosVersion: '1.11.3', goneBootId, timeoutMs: 30_000 }),
    );
    expect(await h.call('applyMachineConfig', at('k8s-work-16'))).toMatchObject({ applied: false });
    await h.call('uncordonNode', at('k8s-work-16'));
  });

  it('a recreated VM without its NIC fails with NicMismatch naming the node and the VLAN', async () => {
    await emptyNode('k8s-work-7');
    await lab.addFault('nic-missing', { node: 'k8s-work-7' });
    // As a cattle node does: the boot its Node reports before the VM goes, which stays Ready a while.
    const goneBootId = await bootOf('k8s-work-7');
    await h.call('destroyNodeVm', at('k8s-work-7'));
    await h.call('createNodeVm', at('k8s-work-7', { version: '1.11.3' }), { startToCloseSeconds: 120 });
    await h.call('applyMachineConfig', at('k8s-work-7'));
    // The NICs are read once the installed system is up, not during its reboot.
    await h.call(
      'waitForNodeReady',
      at('k8s-work-7', { talosVersion: '1.11.3', goneBootId, timeoutMs: 30_000 }),
    );
    const failure = await h.failure('checkNodeNics', at('k8s-work-7'), { maxAttempts: 3 });
    expect(failure).toMatchObject({ type: 'NicMismatch', nonRetryable: true });
    expect(failure.message).toMatch(
      /^k8s-work-7: eth2 \(VLAN 81\) is missing .*module\.nodes\["k8s-work-7"\]/,
    );
    expect(await h.call('checkNodeNics', at('k8s-work-8'))).toEqual({
      nics: ['eth0', 'eth1', 'eth1.62', 'eth2', 'eth2.81'],
    });
  });

  it('on Talos 1.14 a rebuilt GPU node takes its patch live but writes the files only at a boot: applyPatches reboots it and its GPU comes back', async () => {
    const gpus = async () =>
      (await lab.core.readNode({ name: 'k8s-work-4' })).status?.allocatable?.['nvidia.com/gpu'];
    await emptyNode('k8s-work-4');
    const goneBootId = await bootOf('k8s-work-4');
    await h.call('destroyNodeVm', at('k8s-work-4'));
    await h.call('createNodeVm', at('k8s-work-4', { version: '1.14.1' }), { startToCloseSeconds: 120 });
    await h.call('applyMachineConfig', at('k8s-work-4'));
    await h.call(
      'waitForNodeReady',
      at('k8s-work-4', { talosVersion: '1.14.1', goneBootId, timeoutMs: 30_000 }),
    );
    // Its config has no GPU patch yet: containerd has no nvidia runtime, the device plugin nothing to offer.
    expect(await gpus()).toBe('0');
    // Talos 1.14's auto mode is no-reboot, machine.files or not (1.11-1.13 reboot for them).
    const gpuPatch = join(lab.dir, 'repo', 'talos/patches/k8s-work-4/nvidia-gpu.yaml');
    const dryRun = await lab.talosctl(
      '-n',
      lab.ip('k8s-work-4'),
      'patch',
      'mc',
      '--dry-run',
      '--patch',
      `@${gpuPatch}`,
    );
    expect(dryRun.stdout + dryRun.stderr).toContain(
      'Applied configuration without a reboot (skipped in dry-run)',
    );
    const booted = await bootOf('k8s-work-4');
    // Talos 1.14 takes the patch in mode no-reboot (1.11-1.13 refuse it) and has written nothing. Run
    // in a mock activity context to read its heartbeats: what Temporal would hand a retry.
    const env = new MockActivityEnvironment();
    const beats: unknown[] = [];
    env.on('heartbeat', (details: unknown) => beats.push(details));
    const patched = await env.run(createActivities(h.deps).applyPatches, at('k8s-work-4'));
    expect(patched).toEqual({
      applied: ['talos/patches/global.yaml', 'talos/patches/k8s-work-4/nvidia-gpu.yaml'],
      staged: ['talos/patches/k8s-work-4/nvidia-gpu.yaml'],
      rebooted: true,
      bootId: booted,
    });
    await h.call(
      'waitForNodeReady',
      at('k8s-work-4', { talosVersion: '1.14.1', goneBootId: booted, timeoutMs: 30_000 }),
    );
    await eventually('its GPU advertised again', async () => (await gpus()) === '1');
    // Every heartbeat from the reboot on names the boot it rebooted from: a retry after it (say the reads
    // after the reboot gave up) answers that reboot, so the workflow still waits for Ready.
    expect(beats.at(-1)).toMatchObject({ rebootedFrom: booted });
    const retry = new MockActivityEnvironment({ attempt: 2, heartbeatDetails: beats.at(-1) });
    expect(await retry.run(createActivities(h.deps).applyPatches, at('k8s-work-4'))).toMatchObject({
      staged: [],
      rebooted: true,
      bootId: booted,
    });
    // Applied again, everything is on the node: nothing reboots.
    expect(await h.call('applyPatches', at('k8s-work-4'))).toMatchObject({ staged: [], rebooted: false });
    // An installer whose release may not follow 1.14 (1.11's downgrade bound is 1.13.0) refuses the host in
    // its own pre-flight: the install fails, final, the node untouched on 1.14.1.
    const refused = await h.failure('installUpgrade', at('k8s-work-4', { version: '1.11.3' }));
    expect(refused).toMatchObject({ type: 'CommandFailed', nonRetryable: true });
    expect(refused.message).toContain('upgrade failed with exit code 1');
    expect(refused.message).toContain('host version 1.14.1 is too new to downgrade to Talos 1.11.3');
    expect(refused.message).toContain('which still runs its old version and was not rebooted');
    expect(await h.call('getTalosVersion', at('k8s-work-4'))).toBe('1.14.1');
    await h.call('uncordonNode', at('k8s-work-4'));
  });

  it('clones the VMs of nodes recreated together in one run; a failed clone fails only its own node', async () => {
    const nodes = ['k8s-work-13', 'k8s-work-14'];
    for (const node of nodes) await emptyNode(node);
    const gone = new Map(await Promise.all(nodes.map(async (n) => [n, await bootOf(n)] as const)));
    const version = { version: '1.11.3' };
    const long = { startToCloseSeconds: 120 };
    // As cattle nodes in parallel lanes do: each destroys its VM, then asks for it at the version.
    const recreate = async (node: string) => {
      await h.call('destroyNodeVm', at(node));
      return h.call<{ together?: string[] }>('createNodeVm', at(node, version), long);
    };
    expect((await Promise.all(nodes.map(recreate))).map((r) => r.together)).toEqual([
      ['k8s-work-14'],
      ['k8s-work-13'],
    ]);

    // The shared run fails on k8s-work-14's clone; each then runs alone and gets its own outcome
    // (k8s-work-13's from its own run, which finds its VM made: nothing to do, nobody with it).
    await lab.addFault('vm-create-fails', { node: 'k8s-work-14', times: 2 });
    const [created, failed] = await Promise.all([
      recreate('k8s-work-13'),
      h
        .call('destroyNodeVm', at('k8s-work-14'))
        .then(() => h.failure('createNodeVm', at('k8s-work-14', version), { maxAttempts: 1 })),
    ]);
    expect(created.together).toBeUndefined();
    expect(failed).toMatchObject({ type: 'CommandFailed', nonRetryable: true });
    expect(failed.message).toMatch(/module\.nodes\["k8s-work-14"\].*failed: .*clone failed/s);
    const report = await lab.api<{
      timeline: Array<{ kind: string; node?: string; detail?: string }>;
    }>('/report');
    const fired = report.timeline.filter((e) => e.kind === 'fault-fired' && e.detail === 'vm-create-fails');
    expect(fired.map((e) => e.node)).toEqual(['k8s-work-14', 'k8s-work-14']);

    await h.call('createNodeVm', at('k8s-work-14', version), long);
    for (const node of nodes) {
      await h.call('applyMachineConfig', at(node));
      await h.call(
        'waitForNodeReady',
        at(node, { talosVersion: '1.11.3', goneBootId: gone.get(node), timeoutMs: 30_000 }),
      );
      await h.call('uncordonNode', at(node));
    }
  });

  it('rebuilds the templates for a version', async () => {
    const result = await h.call<{ templates: string[] }>(
      'rebuildTemplates',
      { cluster: CLUSTER, version: '1.12.0' },
      { startToCloseSeconds: 120 },
    );
    expect(result.templates).toHaveLength(8);
    const report = await lab.api<{ timeline: Array<{ kind: string; detail?: string }> }>('/report');
    expect(
      report.timeline.filter((e) => e.kind === 'template-built' && e.detail?.endsWith('at Talos 1.12.0')),
    ).toHaveLength(8);
  });
});

describe('health, images, GPU patches, releases', () => {
  it('runs the inventory health checks and summarises them as the PRD does', async () => {
    await eventually('k8s-work-5 Ready', () => nodeReady(lab, 'k8s-work-5'));
    // The tests before rebooted and drained workers that carry Ceph OSDs: Ceph recovers within seconds.
    const report = await eventually(
      'every health check to pass',
      async () => {
        const read = await h.call<HealthReport>('runHealthChecks', at('k8s-work-5'), {
          startToCloseSeconds: 300,
        });
        return read.ok ? read : undefined;
      },
      120_000,
    );
    expect(report.summary).toBe('✅ k8s-work-5: 7/7 health checks passed');
    await lab.addFault('ceph-warn');
    const failing = await h.call<HealthReport>('runHealthChecks', at('k8s-work-5'), {
      startToCloseSeconds: 300,
    });
    expect(failing.summary).toBe('❌ k8s-work-5: 6/7 health checks passed (failed: Storage Health)');
    expect(failing.failed[0]?.diagnostics).toContain('HEALTH_WARN');
    // The checks run at once; two failures are still reported in the policy's order.
    await h.call('cordonNode', at('k8s-work-5'));
    const twice = await h
      .call<HealthReport>('runHealthChecks', at('k8s-work-5'), { startToCloseSeconds: 300 })
      .finally(() => h.call('uncordonNode', at('k8s-work-5')));
    expect(twice.failed.map((f) => f.check)).toEqual(['Node Readiness', 'Storage Health']);
    expect(twice.failed[0]?.diagnostics).toBe('k8s-work-5 is SchedulingDisabled (cordoned)');
    await lab.clearFaults();
  });

  it('checks the installer image of every schematic, following the token challenge', async () => {
    const ok = await h.call<{ images: string[] }>('checkInstallerImages', {
      cluster: CLUSTER,
      version: '1.12.0',
    });
    // The controllers', the workers' and the GPU workers' own.
    expect(ok.images).toHaveLength(3);
    await lab.addFault('image-missing', { version: '1.12.0' });
    const failure = await h.failure(
      'checkInstallerImages',
      { cluster: CLUSTER, version: '1.12.0' },
      { maxAttempts: 3 },
    );
    expect(failure).toMatchObject({ type: 'ImageMissing', nonRetryable: true });
    await lab.clearFaults();
  });

  it("proves each node's installer keeps the extensions its image loads; a node that does not answer is left to the gates", async () => {
    const all = h.inventory.nodes.map((n) => n.name);
    // Every node runs the schematic init gave it: nothing to read from the factory.
    expect(await h.call('proveNodeExtensions', { cluster: CLUSTER, nodes: all })).toEqual({
      schematics: [],
      unanswered: [],
    });
    // talosctl resolves the resource type on the first node it is given: that node down hides every
    // answer of a call for all, so the others are asked one by one. Down for good here.
    await lab.addFault('talosctl-transient', { node: 'k8s-ctrl-1', times: 100 });
    try {
      // doctor names it; pre-flight cannot prove it and retries.
      expect(
        await h.call('proveNodeExtensions', { cluster: CLUSTER, nodes: all, tolerateUnanswered: true }),
      ).toMatchObject({ unanswered: ['k8s-ctrl-1'] });
      expect(
        await h.failure('proveNodeExtensions', { cluster: CLUSTER, nodes: all }, { maxAttempts: 1 }),
      ).toMatchObject({ type: 'TalosUnavailable', nonRetryable: false });
    } finally {
      await lab.clearFaults('talosctl-transient');
    }
  });

  it("proves a rebuilt VM's kernel arguments from the Image Factory's schematic, and says what it cannot read", async () => {
    const node = h.inventory.nodes.find((n) => n.name === 'k8s-work-5');
    if (!node) throw new Error('prox-ops has k8s-work-5');
    const { installer } = h.inventory.images;
    const { kernelArgs, schematic } = node;
    const prove = () =>
      h.failure('proveRebuiltKernelArgs', { cluster: CLUSTER, nodes: ['k8s-work-5'] }, { maxAttempts: 2 });
    // No node checks an argument: nothing to read.
    expect(await h.call('proveRebuiltKernelArgs', { cluster: CLUSTER, nodes: ['k8s-work-5'] })).toEqual({
      schematics: {},
    });
    try {
      // An argument the worker schematic does not carry (prox-ops's schematics carry none).
      node.kernelArgs = ['nosmt'];
      const gap = await prove();
      expect(gap).toMatchObject({ type: 'ValidationFailed', nonRetryable: true });
      expect(gap.message).toMatch(
        /k8s-work-5 would boot without nosmt \(schematic 990731763242… has no such/,
      );
      // A schematic the factory does not know.
      node.schematic = 'b'.repeat(64);
      expect(await prove()).toMatchObject({
        type: 'ValidationFailed',
        nonRetryable: true,
        message: expect.stringMatching(/does not know schematic b{64}/),
      });
      // A host that is no Image Factory (the lab's Kubernetes API server, which speaks HTTPS only).
      const apiServer = new URL(lab.kc.getCurrentCluster()?.server ?? '').host;
      h.inventory.images.installer = installer.replace(/^[^/]+/, apiServer);
      expect(await prove()).toMatchObject({
        type: 'ValidationFailed',
        nonRetryable: true,
        message: expect.stringMatching(
          /answered HTTP 400 for schematic .*not the schematic an Image Factory serves/,
        ),
      });
    } finally {
      if (kernelArgs) node.kernelArgs = kernelArgs;
      else delete node.kernelArgs;
      if (schematic) node.schematic = schematic;
      else delete node.schematic;
      h.inventory.images.installer = installer;
    }
  });

  it('validates GPU patches: /var paths only and no-cgroups = true', async () => {
    expect(await h.call('validateGpuPatches', { cluster: CLUSTER })).toEqual({
      checked: ['talos/patches/k8s-work-4/nvidia-gpu.yaml', 'talos/patches/k8s-work-14/nvidia-gpu.yaml'],
    });
    await lab.addFault('gpu-patch-etc', { node: 'k8s-work-14' });
    const failure = await h.failure('validateGpuPatches', { cluster: CLUSTER });
    expect(failure).toMatchObject({ type: 'ValidationFailed', nonRetryable: true });
    expect(failure.message).toMatch(
      /k8s-work-14: .*path \/etc\/nvidia-container-runtime\/config\.toml is outside \/var/,
    );
    await lab.clearFaults();
  });

  it('fetches the released Talos versions', async () => {
    expect(await h.call<string[]>('fetchTalosReleases', {})).toEqual(
      expect.arrayContaining(['1.11.3', '1.12.5', '2.0.0']),
    );
  });
});

describe('cancellation', () => {
  it('a drain waiting on a PDB stops promptly when the run is cancelled', async () => {
    const pods = await lab.core.listNamespacedPod({ namespace: 'home-automation' });
    const node = pods.items[0]?.spec?.nodeName ?? '';
    await h.call('cordonNode', at(node));
    const run = h.begin('drainNode', at(node, { timeoutMs: 120_000, force: false }), {
      heartbeatSeconds: 2,
      startToCloseSeconds: 300,
    });
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const cancelledAt = Date.now();
    await run.cancel();
    const outcome = await run.outcome;
    expect(outcome).toBeInstanceOf(WorkflowFailedError);
    expect((outcome as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
    expect(Date.now() - cancelledAt).toBeLessThan(15_000);
    await h.call('uncordonNode', at(node));
  });

  it('a terraform run waiting for the state lock is killed when the run is cancelled', async () => {
    await emptyNode('k8s-work-15');
    await lab.addFault('terraform-lock', { seconds: 60 });
    const run = h.begin('destroyNodeVm', at('k8s-work-15'), {
      heartbeatSeconds: 10,
      startToCloseSeconds: 600,
    });
    await eventually(
      'terraform to wait for the lock',
      async () => (await labProcesses(lab, 'plan -input=false -json -lock-timeout')).length > 0,
      20_000,
    );
    await run.cancel();
    expect((await run.outcome) as WorkflowFailedError).toBeInstanceOf(WorkflowFailedError);
    await eventually(
      'the terraform child to be gone',
      async () => (await labProcesses(lab, 'plan -input=false -json -lock-timeout')).length === 0,
      15_000,
    );
    await lab.clearFaults();
    const destroyed = await h.call<{ destroyed: boolean; bootId?: string }>(
      'destroyNodeVm',
      at('k8s-work-15'),
    );
    expect(destroyed).toMatchObject({ destroyed: true });
    await h.call('createNodeVm', at('k8s-work-15', { version: '1.11.3' }), { startToCloseSeconds: 120 });
    await h.call('applyMachineConfig', at('k8s-work-15'));
    await h.call(
      'waitForNodeReady',
      at('k8s-work-15', { talosVersion: '1.11.3', goneBootId: destroyed.bootId, timeoutMs: 30_000 }),
    );
    await h.call('uncordonNode', at('k8s-work-15'));
  });
});

describe('notifications', () => {
  let server: Server;
  const received: Array<{ body: { embeds?: Array<{ title: string }> } }> = [];
  let answers: number[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      let text = '';
      req.on('data', (chunk: Buffer) => (text += chunk.toString()));
      req.on('end', () => {
        received.push({ body: JSON.parse(text) as { embeds?: Array<{ title: string }> } });
        const status = answers.shift() ?? 204;
        res.writeHead(status, { 'Content-Type': 'application/json' });
        res.end(status === 429 ? JSON.stringify({ retry_after: 0.2 }) : '');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    h.secrets.DISCORD_WEBHOOK_URL = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/api/webhooks/1/secret-token`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const start = {
    kind: 'start',
    from: '1.11.3',
    to: '1.11.4',
    strategy: 'pets',
    nodeCount: 15,
    estimateMinutes: 45,
    workflowId: 'talos-upgrade:prox-ops:abc',
  };

  it('delivers a Discord embed, backing off on 429', async () => {
    answers = [429];
    const result = await h.call<NotifyResult>('notify', { cluster: CLUSTER, event: start });
    expect(result).toEqual({ delivered: 1, failed: [] });
    expect(received).toHaveLength(2);
    expect(received[1]?.body.embeds?.[0]?.title).toBe('🚀 Upgrade started: prox-ops');
  });

  it('never fails the upgrade when a notification fails, and never reveals the URL', async () => {
    answers = [500];
    const result = await h.call<NotifyResult>('notify', {
      cluster: CLUSTER,
      event: { kind: 'critical', message: 'k8s-work-3 left NotReady' },
    });
    expect(result).toEqual({ delivered: 0, failed: [{ target: 'discord #1', error: 'HTTP 500' }] });
    delete h.secrets.DISCORD_WEBHOOK_URL;
    const missing = await h.call<NotifyResult>('notify', {
      cluster: CLUSTER,
      event: { kind: 'critical', message: 'x' },
    });
    expect(missing.failed[0]?.error).toBe('its URL secret ($DISCORD_WEBHOOK_URL) cannot be read');
    expect(JSON.stringify(missing)).not.toContain('secret-token');
  });
});
