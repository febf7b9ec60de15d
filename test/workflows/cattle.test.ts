import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parseAllDocuments } from 'yaml';
import { WorkflowFailedError } from '@temporalio/client';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { defaultPayloadConverter } from '@temporalio/common';
import { clusterUpgrade } from '../../src/workflows/index.js';
import { PENDING_TAINT, type Strategy } from '../../src/domain/index.js';
import type { ClusterUpgradeResult, UpgradeRequest } from '../../src/workflows/types.js';
import { eventually, startLab, type Lab } from '../lab/labHarness.js';
import { recordHistory } from './recordHistory.js';
import { startWorkflowHarness, type WorkflowHarness } from './workflowHarness.js';

let lab: Lab;
let h: WorkflowHarness;
beforeAll(async () => {
  lab = await startLab('prox-ops', ['--max-unavailable-workers', '3']);
  h = await startWorkflowHarness(lab, (inventory) => {
    inventory.policy.maxParallelWorkers = 3;
    // Later tests ask patches as cattle, as an operator may: taken without an approval wait.
    inventory.policy.strategyOverride = 'allow';
  });
}, 900_000);
afterAll(async () => {
  await h?.stop();
  await lab?.stop();
});

interface Report {
  ok: boolean;
  violations: Array<{ invariant: string; detail: string }>;
  vms: Array<{ node: string; talosVersion: string; destroyed: number; created: number }>;
  timeline: Array<{ kind: string; node?: string; detail?: string }>;
}
/**
 * The PDB-protected app moved to `node`: its pod recreated while the other workers carry a NoSchedule
 * taint of the test's own (a cordon would count as unavailable for the lab's invariant monitor).
 */
async function placeProtectedPodOn(node: string): Promise<void> {
  const namespace = 'home-automation';
  const hold = { key: 'test.talos-upgrade/hold', effect: 'NoSchedule' };
  const workers = h.inventory.nodes.filter((n) => n.role === 'worker' && n.name !== node).map((n) => n.name);
  const setHold = (held: boolean) =>
    Promise.all(
      workers.map(async (name) => {
        const taints = ((await lab.core.readNode({ name })).spec?.taints ?? []).filter(
          (t) => t.key !== hold.key,
        );
        await lab.core.patchNode(
          { name, body: { spec: { taints: held ? [...taints, hold] : taints } } },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        );
      }),
    );
  try {
    await setHold(true);
    await eventually(
      `the protected pod running on ${node}`,
      async () => {
        const pods = (await lab.core.listNamespacedPod({ namespace })).items;
        // Deleted again until its replacement lands there: the scheduler may not have seen the taint yet.
        for (const pod of pods.filter((p) => p.spec?.nodeName && p.spec.nodeName !== node))
          await lab.core
            .deleteNamespacedPod({ name: pod.metadata?.name ?? '', namespace })
            .catch(() => undefined);
        return (
          pods.length > 0 && pods.every((p) => p.spec?.nodeName === node && p.status?.phase === 'Running')
        );
      },
      120_000,
    );
  } finally {
    await setHold(false);
  }
}

/**
 * From one read of a cluster run's history: the results of its local activities by type, in order, and
 * the order in which it started its node runs.
 */
async function localResultsOf(
  workflowId: string,
): Promise<{ results: (type: string) => unknown[]; started: string[] }> {
  const events = (await h.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  const byType = new Map<string, unknown[]>();
  const started: string[] = [];
  for (const event of events) {
    const child = event.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId;
    if (child) started.push(child.split(':node:')[1]?.split(':')[0] ?? '');
    const details = event.markerRecordedEventAttributes?.details;
    const data = details?.data?.payloads?.[0];
    const result = details?.result?.payloads?.[0];
    if (!data || !result) continue;
    const type = defaultPayloadConverter.fromPayload<{ activity_type?: string }>(data).activity_type ?? '';
    byType.set(type, [...(byType.get(type) ?? []), defaultPayloadConverter.fromPayload(result)]);
  }
  return { results: (type) => byType.get(type) ?? [], started };
}

/** The activities a node run ran, remote and local, in the order its history has them. */
async function stepsOf(workflowId: string): Promise<string[]> {
  const events = (await h.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  return events.flatMap((event) => {
    const remote = event.activityTaskScheduledEventAttributes?.activityType?.name;
    if (remote) return [remote];
    const data = event.markerRecordedEventAttributes?.details?.data?.payloads?.[0];
    const local = data
      ? defaultPayloadConverter.fromPayload<{ activity_type?: string }>(data).activity_type
      : undefined;
    return local ? [local] : [];
  });
}

/** What each run of one activity type returned in a workflow's history, in order. */
async function activityResults<T>(workflowId: string, type: string): Promise<T[]> {
  const events = (await h.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  const scheduled = new Set(
    events
      .filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === type)
      .map((e) => String(e.eventId)),
  );
  return events.flatMap((e) => {
    const done = e.activityTaskCompletedEventAttributes;
    const result = done?.result?.payloads?.[0];
    if (!done || !result || !scheduled.has(String(done.scheduledEventId))) return [];
    return [defaultPayloadConverter.fromPayload<T>(result)];
  });
}

/** The pods a node run's drain forced out (drainNode's result in its history). */
async function forcedPodsOf(workflowId: string): Promise<string[]> {
  return (await activityResults<{ forced: string[] }>(workflowId, 'drainNode')).flatMap((r) => r.forced);
}

const report = async () => lab.api<Report>('/report');
const request = (id: string, to: string, strategy?: Strategy): UpgradeRequest => ({
  requestId: id,
  cluster: 'prox-ops',
  talos: { to },
  ...(strategy ? { strategy } : {}),
  source: 'test',
});

describe('clusterUpgrade, cattle on prox-ops with maxParallelWorkers 3', () => {
  it("a worker config without the workers' VLANs: refused in pre-flight, no VM destroyed", async () => {
    const configs = h.inventory.machineConfigs;
    if (!configs?.worker) throw new Error('init names the worker config');
    const withVlans = configs.worker;
    // The user's worker config as `talosctl gen config` writes it, before their VLAN patch.
    const docs = parseAllDocuments(await readFile(withVlans, 'utf8'));
    for (const doc of docs) doc.deleteIn(['machine', 'network', 'interfaces']);
    const plain = join(lab.dir, 'worker-no-vlans.yaml');
    await writeFile(plain, docs.map((doc) => doc.toString()).join('---\n'));
    configs.worker = plain;
    try {
      const failure = await h.client.workflow
        .execute(clusterUpgrade, {
          taskQueue: h.taskQueue,
          workflowId: 'talos-upgrade:prox-ops:vlans-undefined',
          args: [request('vlans-undefined', '1.12.0')],
        })
        .then(
          () => undefined,
          (error: unknown) => error,
        );
      expect(failure).toBeInstanceOf(WorkflowFailedError);
      expect(String((failure as WorkflowFailedError).cause?.message)).toMatch(
        /Talos creates a VLAN link only from its configuration .*none of these: k8s-work-[\d, k8s-work-]+: VLAN 62 on eth1 and VLAN 81 on eth2 \(in none of .*worker-no-vlans\.yaml/,
      );
    } finally {
      configs.worker = withVlans;
    }
    expect((await report()).vms.every((vm) => vm.destroyed === 0)).toBe(true);
  }, 300_000);

  it('1.11.3 -> 1.12.0: every VM destroyed and recreated once, quorum kept, NICs and GPU patches checked', async () => {
    // The last worker in the inventory holds the app whose PDB blocks its drain: it starts first of
    // the final round, so the lanes end together.
    await placeProtectedPodOn('k8s-work-16');
    const result = await h.client.workflow.execute(clusterUpgrade, {
      taskQueue: h.taskQueue,
      workflowId: 'talos-upgrade:prox-ops:cattle-test',
      args: [request('cattle-test', '1.12.0')],
    });
    expect(result.outcome).toBe('succeeded');
    expect(result.hops).toEqual([
      { from: '1.11.3', to: '1.12.0', strategy: 'cattle', reason: 'policy: minor upgrades run as cattle' },
    ]);
    expect(result.nodes).toHaveLength(15);
    const r = await report();
    expect(r.violations).toEqual([]);
    expect(r.vms.every((vm) => vm.destroyed === 1 && vm.created === 1 && vm.talosVersion === '1.12.0')).toBe(
      true,
    );
    const gpuPatched = r.timeline
      .filter(
        (e) =>
          e.kind === 'patch-applied' && e.detail?.includes('/var/etc/nvidia-container-runtime/config.toml'),
      )
      .map((e) => e.node);
    expect(gpuPatched.sort()).toEqual(['k8s-work-14', 'k8s-work-4']);
    // The GPU patch writes machine.files, which Talos 1.12 applies only at a boot: it is staged and the
    // node rebooted once, and the run waits for it; the NIC check and the uncordon come after.
    for (const node of ['k8s-work-4', 'k8s-work-14']) {
      const own = r.timeline.filter((e) => e.node === node);
      const created = own.findIndex((e) => e.kind === 'vm-created');
      const after = own
        .slice(created)
        .map((e) => (e.kind === 'patch-applied' ? `${e.kind}: ${e.detail}` : e.kind));
      const staged = after.findIndex((k) => k.startsWith('patch-applied: staged for the next boot'));
      const reboot = after.indexOf('reboot');
      expect([staged >= 0, reboot > staged, after.filter((k) => k === 'reboot')]).toEqual([
        true,
        true,
        ['reboot'],
      ]);
      const steps = await stepsOf(`talos-upgrade:prox-ops:cattle-test:node:${node}:1.12.0`);
      const patches = steps.indexOf('applyPatches');
      expect(steps.slice(patches, patches + 3)).toEqual([
        'applyPatches',
        'waitForNodeReady',
        'checkNodeNics',
      ]);
      expect(steps.indexOf('uncordonNode')).toBeGreaterThan(patches);
    }
    expect(r.timeline.filter((e) => e.kind === 'template-built')).toHaveLength(8);
    // Each free lane reads which of the next three nodes a PDB blocks and starts those first. The app
    // stays on k8s-work-16 (the last in the inventory) until the read that first sees it: that read's
    // window is the last three, and k8s-work-16 starts first of them, unless another app's budget
    // blocked one before it in the inventory for a moment (a lane draining that app's other replica).
    const { results, started } = await localResultsOf('talos-upgrade:prox-ops:cattle-test');
    const reads = results('drainBlockedNodes') as string[][];
    // Read by each lane freed once a worker was done, after the first round's read (the final round
    // alone would be two reads).
    expect(reads.length).toBeGreaterThan(4);
    const sawApp = reads.find((blocked) => blocked.includes('k8s-work-16')) ?? [];
    expect(sawApp).toContain('k8s-work-16');
    const inventory = h.inventory.nodes.map((n) => n.name);
    const lastThree = started.slice(-3);
    const firstBlocked = [...lastThree]
      .sort((a, b) => inventory.indexOf(a) - inventory.indexOf(b))
      .find((n) => sawApp.includes(n));
    expect(lastThree[0]).toBe(firstBlocked);
    // The hop marked every node (all at 1.11.3), and the marks came off with the end of the run.
    expect(results('markNodesPending')).toEqual([{ marked: expect.arrayContaining(inventory) }]);
    const marked = (await lab.core.listNode()).items.filter((n) =>
      n.spec?.taints?.some((t) => t.key === PENDING_TAINT.key),
    );
    expect(marked.map((n) => n.metadata?.name)).toEqual([]);
    // Recorded under its own name: cattle-cluster-prox-ops, -final-round and -blocked-first keep the
    // shapes from before (blocked-first: every free lane's read, without the first round's).
    await recordHistory('talos-upgrade:prox-ops:cattle-test', 'cattle-cluster-prox-ops-first-round-read');
    await recordHistory(
      'talos-upgrade:prox-ops:cattle-test:node:k8s-ctrl-1:1.12.0',
      'cattle-node-controller',
    );
    await recordHistory(
      'talos-upgrade:prox-ops:cattle-test:node:k8s-work-4:1.12.0',
      'cattle-node-gpu-worker',
    );
  }, 1_200_000);

  it('a NIC missing after recreate: that node is recreated at the old version and the run halts', async () => {
    await lab.addFault('nic-missing', { node: 'k8s-work-5' });
    h.inventory.nodes = h.inventory.nodes
      .filter((n) => n.role === 'worker' && n.name === 'k8s-work-5')
      .concat(h.inventory.nodes.filter((n) => n.name !== 'k8s-work-5'));
    let failure: unknown;
    try {
      await h.client.workflow.execute(clusterUpgrade, {
        taskQueue: h.taskQueue,
        workflowId: 'talos-upgrade:prox-ops:nic-test',
        args: [request('nic-test', '1.12.1', 'cattle')],
      });
    } catch (error) {
      failure = error;
    }
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    const result = (await h.client.workflow.getHandle('talos-upgrade:prox-ops:nic-test').describe()).status
      .name;
    expect(result).toBe('FAILED');
    const r = await report();
    const node = r.vms.find((vm) => vm.node === 'k8s-work-5');
    expect(node).toMatchObject({ talosVersion: '1.12.0', destroyed: 3, created: 3 });
    expect(
      r.timeline.some(
        (e) =>
          e.kind === 'vm-created' && e.node === 'k8s-work-5' && e.detail?.startsWith('Talos 1.12.0, 3 NICs'),
      ),
    ).toBe(true);
  }, 1_200_000);

  it("a VM not made again: the undo's VM counts with a boot of its own, not by the Node its destroyed VM left Ready", async () => {
    // As on a real cluster: the Node outlives its VM and stays Ready until node-monitor-grace-period
    // ends; the new kubelet reports some seconds after its boot.
    await lab.clearFaults();
    const { timing } = await lab.api<{ timing: Record<string, number> }>('/config', {});
    await lab.api('/config', { timing: { nodeGraceSeconds: 300, kubeletReadySeconds: 3 } });
    const bootOf = async () => (await lab.core.readNode({ name: 'k8s-work-5' })).status?.nodeInfo?.bootID;
    const before = await bootOf();
    // One worker at a time: k8s-work-5 (first) is cloned alone, and its one failed clone is final (a
    // shared clone that fails is tried again alone).
    const parallel = h.inventory.policy.maxParallelWorkers;
    h.inventory.policy.maxParallelWorkers = 1;
    await lab.addFault('vm-create-fails', { node: 'k8s-work-5', times: 1 });
    try {
      await expect(
        h.client.workflow.execute(clusterUpgrade, {
          taskQueue: h.taskQueue,
          workflowId: 'talos-upgrade:prox-ops:grace-test',
          args: [request('grace-test', '1.12.1', 'cattle')],
        }),
      ).rejects.toBeInstanceOf(WorkflowFailedError);
    } finally {
      h.inventory.policy.maxParallelWorkers = parallel;
      await lab.api('/config', {
        timing: {
          nodeGraceSeconds: timing.nodeGraceSeconds ?? 0,
          kubeletReadySeconds: timing.kubeletReadySeconds,
        },
      });
    }
    // The undo destroyed nothing more (the VM was gone), made the VM at 1.12.0 again and waited for its
    // kubelet's Ready (a second boot and 3 s), though the Node said Ready at 1.12.0 all along.
    const waits = await activityResults<{ waitedMs: number }>(
      'talos-upgrade:prox-ops:grace-test:node:k8s-work-5:1.12.1',
      'waitForNodeReady',
    );
    expect(waits).toHaveLength(1);
    expect(waits[0]?.waitedMs).toBeGreaterThan(3000);
    const node = await lab.core.readNode({ name: 'k8s-work-5' });
    expect(node.status?.nodeInfo?.bootID).not.toBe(before);
    expect(node.spec?.unschedulable).toBeFalsy();
    expect((await report()).vms.find((vm) => vm.node === 'k8s-work-5')).toMatchObject({
      talosVersion: '1.12.0',
    });
  }, 1_200_000);

  it('cancel while a cattle node is between destroy and Ready: it comes back uncordoned and the run ends cancelled', async () => {
    await lab.clearFaults();
    const destroys = async () => (await report()).timeline.filter((e) => e.kind === 'vm-destroyed').length;
    const before = await destroys();
    const handle = await h.client.workflow.start(clusterUpgrade, {
      taskQueue: h.taskQueue,
      workflowId: 'talos-upgrade:prox-ops:cancel-test',
      args: [request('cancel-test', '1.12.1', 'cattle')],
    });
    await eventually('a VM to be destroyed', async () => (await destroys()) > before, 300_000);
    await handle.cancel();
    const result: ClusterUpgradeResult = await handle.result();
    expect(result.outcome).toBe('cancelled');
    expect(result.nodes.find((n) => n.node === 'k8s-work-5')).toMatchObject({ outcome: 'rolled-back' });
    const status = await lab.api<{
      rows: Array<{ node: string; vm: string; ready: boolean; cordoned: boolean }>;
    }>('/status');
    expect(status.rows.every((row) => row.vm === 'running' && row.ready && !row.cordoned)).toBe(true);
    const r = await report();
    expect(r.violations).toEqual([]);
  }, 1_200_000);

  it('a first-round worker whose drain a PDB blocks starts after the first round: its app is forced out once', async () => {
    const workers = h.inventory.nodes.filter((n) => n.role === 'worker').map((n) => n.name);
    const first = workers[0] ?? '';
    await placeProtectedPodOn(first);
    const workflowId = 'talos-upgrade:prox-ops:first-round-test';
    const result = await h.client.workflow.execute(clusterUpgrade, {
      taskQueue: h.taskQueue,
      workflowId,
      args: [request('first-round-test', '1.12.5', 'cattle')],
    });
    expect(result.outcome).toBe('succeeded');
    const { results, started } = await localResultsOf(workflowId);
    // The first read, before any worker starts, finds the app's worker among the first two rounds'.
    expect((results('drainBlockedNodes') as string[][])[0]).toContain(first);
    const startedWorkers = started.filter((n) => workers.includes(n));
    expect(startedWorkers.slice(0, 3)).not.toContain(first);
    expect(startedWorkers[3]).toBe(first);
    // Forced out once, onto an upgraded worker, where it blocks no other drain.
    const forced = await Promise.all(
      startedWorkers.map((n) => forcedPodsOf(`${workflowId}:node:${n}:1.12.5`)),
    );
    expect(forced.flat().filter((pod) => pod.startsWith('home-automation/'))).toHaveLength(1);
    expect((await report()).violations).toEqual([]);
    await recordHistory(workflowId, 'cattle-cluster-prox-ops-first-round');
  }, 1_200_000);
});
