import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { AppsV1Api } from '@kubernetes/client-node';
import { clusterUpgrade, type nodeUpgrade } from '../../src/workflows/index.js';
import { progressQuery } from '../../src/workflows/signals.js';
import { runCli } from '../cli/runCli.js';
import { testTemporalAddress } from '../harness/temporalEnv.js';
import { eventually, GPU_SCHEMATIC, startLab, type Lab } from '../lab/labHarness.js';
import { recordHistory } from './recordHistory.js';
import { failingUpgrade, upgrade } from './runs.js';
import { eventsSince, labReport, labStatus, timelineMark } from './labViews.js';
import { startWorkflowHarness, type WorkflowHarness } from './workflowHarness.js';

let lab: Lab;
let h: WorkflowHarness;
beforeAll(async () => {
  lab = await startLab('prox-ops');
  h = await startWorkflowHarness(lab, (inventory) => {
    inventory.policy.nodeReadyTimeout = 15_000;
  });
}, 900_000);
afterEach(async () => {
  await lab.clearFaults();
  h.inventory.policy.drain.force = true;
});
afterAll(async () => {
  await h?.stop();
  await lab?.stop();
});

const failingRun = (id: string, to: string) => failingUpgrade(h, 'prox-ops', id, { talos: { to } });

const touching = new Set(['cordoned', 'upgrade-started', 'vm-destroyed', 'etcd-left', 'config-applied']);

// First: each leaves the cluster as it found it (the node rolled back to 1.11.3).
describe('a health gate that fails after the upgrade: the node is drained again and rolled back', () => {
  /** The node's cordons and upgrades since the mark: the upgrade's, and the undo's after the uncordon. */
  const cordons = async (mark: number, node: string) =>
    (await eventsSince(lab, mark))
      .filter((e) => e.node === node && /^((un)?cordoned|upgrade-started)$/.test(e.kind))
      .map((e) => e.kind);
  const backOnOldVersion = async (node: string) => {
    const row = (await labStatus(lab)).find((r) => r.node === node);
    expect([row?.talos, row?.ready, row?.cordoned]).toEqual(['1.11.3', true, false]);
    expect((await labReport(lab)).violations).toEqual([]);
  };

  it('a volume that does not detach from the drained node: refused before the reboot, uncordoned, nothing installed', async () => {
    const node = await eventually('the app on RBD scheduled', async () => {
      const pods = await lab.core.listNamespacedPod({ namespace: 'apps', labelSelector: 'app=paperless' });
      return pods.items.find((p) => !p.metadata?.deletionTimestamp)?.spec?.nodeName;
    });
    await lab.addFault('volume-detach-stuck', { node });
    const mark = await timelineMark(lab);
    const { message, result } = await failingUpgrade(h, 'prox-ops', 'volume-stuck', {
      talos: { to: '1.11.4' },
      nodes: [node],
    });
    expect(message).toMatch(
      new RegExp(
        `draining ${node}: 1 volume\\(s\\) still attached 30s after its pods left: pvc-paperless-data \\(VolumeAttachment csi-[0-9a-f]+: rpc error: code = DeadlineExceeded`,
      ),
    );
    expect(result.nodes.map((n) => [n.node, n.outcome])).toEqual([[node, 'rolled-back']]);
    const events = (await eventsSince(lab, mark)).filter((e) => e.node === node).map((e) => e.kind);
    expect(events).not.toContain('upgrade-started');
    expect(events).not.toContain('power-off');
    await lab.clearFaults();
    await backOnOldVersion(node);
  }, 600_000);

  it('DNS and the pod network broken by the new version: both gates fail; after the undo every check passes', async () => {
    await lab.addFault('dns-broken', { node: 'k8s-work-6', version: '1.11.4' });
    await lab.addFault('network-broken', { node: 'k8s-work-6', version: '1.11.4' });
    const mark = await timelineMark(lab);
    const { message, result } = await failingUpgrade(h, 'prox-ops', 'gate-dns-network', {
      talos: { to: '1.11.4' },
      nodes: ['k8s-work-6'],
    });
    expect(message).toContain('k8s-work-6 is not healthy after its upgrade');
    expect(message).toMatch(
      /DNS Resolution: nslookup kubernetes\.default\.svc\.cluster\.local failed on k8s-work-6: exit 1/,
    );
    expect(message).toMatch(/Network Connectivity: curl .* failed on k8s-work-6: exit 6/);
    expect(message).toContain(
      'rolled back to a safe state (after the undo ✅ k8s-work-6: 7/7 health checks passed)',
    );
    expect(result.nodes.map((n) => [n.node, n.outcome])).toEqual([['k8s-work-6', 'rolled-back']]);
    // Taken down again only once its pods had been moved off it once more, and back in service after.
    await eventually(
      'the last uncordon on the lab timeline',
      async () => (await cordons(mark, 'k8s-work-6')).length === 6,
      10_000,
    );
    expect(await cordons(mark, 'k8s-work-6')).toEqual([
      'cordoned',
      'upgrade-started',
      'uncordoned',
      'cordoned',
      'upgrade-started',
      'uncordoned',
    ]);
    await backOnOldVersion('k8s-work-6');
  }, 600_000);

  it('a DaemonSet pod crash-looping and the GPU gone on the new version: the pods and gpu gates fail', async () => {
    await lab.addFault('pod-crashloop', { node: 'k8s-work-4', version: '1.11.4' });
    await lab.addFault('gpu-driver-fails', { node: 'k8s-work-4', version: '1.11.4' });
    const { message, result } = await failingUpgrade(h, 'prox-ops', 'gate-pods-gpu', {
      talos: { to: '1.11.4' },
      nodes: ['k8s-work-4'],
    });
    expect(message).toMatch(/Pod Health: kube-system\/cilium-\S+: container main in CrashLoopBackOff/);
    expect(message).toContain('GPU Availability: k8s-work-4: nvidia.com/gpu allocatable is 0');
    expect(message).toContain(
      'rolled back to a safe state (after the undo ✅ k8s-work-4: 7/7 health checks passed)',
    );
    expect(result.nodes.map((n) => [n.node, n.outcome])).toEqual([['k8s-work-4', 'rolled-back']]);
    await backOnOldVersion('k8s-work-4');
  }, 600_000);

  it("Ceph HEALTH_WARN that is not the node's maintenance (an OSD nearly full) during its upgrade: the ceph gate fails and the node is rolled back", async () => {
    const mark = await timelineMark(lab);
    const running = failingUpgrade(h, 'prox-ops', 'gate-ceph', {
      talos: { to: '1.11.4' },
      nodes: ['k8s-work-6'],
    });
    await eventually(
      'the node upgrading',
      async () =>
        (await eventsSince(lab, mark)).some((e) => e.node === 'k8s-work-6' && e.kind === 'upgrade-started'),
      120_000,
    );
    await lab.addFault('ceph-warn');
    const { message, result } = await running;
    expect(message).toContain('k8s-work-6 is not healthy after its upgrade');
    expect(message).toMatch(/Storage Health: CephCluster \S+: HEALTH_WARN.*OSD_NEARFULL/);
    // Not a recovery the node's maintenance caused: no wait for it, and the undo does not clear it.
    expect(message).toMatch(/rolled back, but after the undo ❌ k8s-work-6: .*Storage Health/);
    expect(result.nodes.map((n) => [n.node, n.outcome])).toEqual([['k8s-work-6', 'rolled-back']]);
    await lab.clearFaults();
    await backOnOldVersion('k8s-work-6');
  }, 600_000);

  it('Flux failing from the next boot on, whichever version: rolled back, and the notice says the undo did not make it healthy', async () => {
    await lab.addFault('flux-not-ready', { node: 'k8s-work-6' });
    const { message, result } = await failingUpgrade(h, 'prox-ops', 'gate-flux', {
      talos: { to: '1.11.4' },
      nodes: ['k8s-work-6'],
    });
    expect(message).toContain('k8s-work-6 is not healthy after its upgrade');
    expect(message).toContain(
      'rolled back, but after the undo ❌ k8s-work-6: 6/7 health checks passed (failed: Flux Reconciliation): Flux Reconciliation: kustomizations flux-system/apps: health check failed',
    );
    expect(result.nodes.map((n) => [n.node, n.outcome])).toEqual([['k8s-work-6', 'rolled-back']]);
    await lab.clearFaults();
    await backOnOldVersion('k8s-work-6');
  }, 600_000);
});

describe('faults during a pets upgrade on prox-ops', () => {
  it('installer image missing: halts in pre-flight with nothing touched', async () => {
    await lab.addFault('image-missing', { version: '1.11.4' });
    const mark = await timelineMark(lab);
    const { message, result } = await failingRun('image-missing', '1.11.4');
    expect(message).toMatch(/installer image .*1\.11\.4/i);
    expect(result.nodes).toEqual([]);
    expect((await eventsSince(lab, mark)).filter((e) => touching.has(e.kind))).toEqual([]);
    expect((await labStatus(lab)).every((row) => row.talos === '1.11.3' && !row.cordoned)).toBe(true);
  }, 600_000);

  it("a Kubernetes release whose images the nodes cannot pull: pre-flight's upgrade-k8s dry run halts, nothing touched", async () => {
    const kubernetesOnly = { talos: { to: '1.11.3' }, kubernetes: { to: '1.34.2' } };
    await lab.addFault('kubernetes-image-missing', { version: '1.34.2' });
    const mark = await timelineMark(lab);
    const { message, result } = await failingUpgrade(h, 'prox-ops', 'k8s-image-missing', kubernetesOnly);
    expect(message).toMatch(
      /k8s-ctrl-\d cannot pull registry\.k8s\.io\/kube-apiserver:v1\.34\.2: .* nothing was changed/,
    );
    expect(result.nodes).toEqual([]);
    const events = await eventsSince(lab, mark);
    expect(events.filter((e) => touching.has(e.kind))).toEqual([]);
    // The product's own dry run changes nothing on the nodes either: talosctl's, without its pull.
    await lab.clearFaults();
    const dry = await upgrade(h, 'prox-ops', 'k8s-dry-run', { ...kubernetesOnly, dryRun: true });
    expect(dry.outcome).toBe('dry-run');
    expect(dry.reason).toContain('Kubernetes 1.34.2: upgrade-k8s dry run passed (images not pulled');
    expect((await eventsSince(lab, mark)).filter((e) => e.kind === 'image-pulled')).toEqual([]);
    expect((await lab.core.readNode({ name: 'k8s-work-1' })).status?.nodeInfo?.kubeletVersion).toBe(
      'v1.34.1',
    );
  }, 600_000);

  it("kube-proxy not Ready on one node: pre-flight refuses the Kubernetes step, which would move the control plane and then wait in vain for the add-on's rollout", async () => {
    const kubernetesOnly = { talos: { to: '1.11.3' }, kubernetes: { to: '1.34.2' } };
    // Talos created kube-proxy from its bootstrap manifests; upgrade-k8s syncs its new image last and
    // waits up to 5 minutes for every node's pod to be available. A pod that runs but fails its
    // readiness probe passes the pods gate (no crash loop, not Pending): only this check sees it.
    await lab.addFault('pod-not-ready', { node: 'k8s-work-3', version: '1.11.3', daemonSet: 'kube-proxy' });
    const apps = lab.kc.makeApiClient(AppsV1Api);
    await eventually('kube-proxy counted unavailable', async () => {
      const ds = await apps.readNamespacedDaemonSet({ name: 'kube-proxy', namespace: 'kube-system' });
      return (ds.status?.numberAvailable ?? 0) < (ds.status?.desiredNumberScheduled ?? 0);
    });
    const mark = await timelineMark(lab);
    try {
      const { message, result } = await failingUpgrade(h, 'prox-ops', 'k8s-addons', kubernetesOnly);
      expect(message).toMatch(
        /Talos's add-ons are not all available: DaemonSet kube-system\/kube-proxy: 14 of 15 pods available \(k8s-work-3: kube-proxy-\S+ Running\)\. .*upgrade-k8s was not started/,
      );
      expect(result.nodes).toEqual([]);
      const events = await eventsSince(lab, mark);
      expect(events.filter((e) => touching.has(e.kind) || e.kind === 'image-pulled')).toEqual([]);
    } finally {
      await lab.clearFaults();
    }
  }, 600_000);

  it('a node not Ready after its upgrade: rolled back to the old version, the run halted', async () => {
    await lab.addFault('not-ready-after-upgrade', { node: 'k8s-ctrl-1' });
    const { message, result } = await failingRun('not-ready', '1.11.4');
    expect(message).toMatch(/k8s-ctrl-1/);
    expect(result.nodes).toMatchObject([{ node: 'k8s-ctrl-1', outcome: 'rolled-back' }]);
    const rows = await labStatus(lab);
    expect(rows.every((row) => row.talos === '1.11.3' && row.ready && !row.cordoned)).toBe(true);
    expect((await labReport(lab)).violations).toEqual([]);
  }, 600_000);

  it('a PDB blocking the drain (force off): halted with the node uncordoned', async () => {
    h.inventory.policy.drain.force = false;
    await lab.addFault('pdb-blocks-drain', { node: 'k8s-ctrl-1' });
    const mark = await timelineMark(lab);
    const { message, result } = await failingRun('pdb-blocked', '1.11.4');
    expect(message).toMatch(/disruption budget|DrainBlocked|PodDisruptionBudget/i);
    expect(result.nodes).toMatchObject([{ node: 'k8s-ctrl-1', outcome: 'rolled-back' }]);
    const events = await eventsSince(lab, mark);
    expect(events.filter((e) => e.kind === 'upgrade-started')).toEqual([]);
    expect(events.filter((e) => e.kind === 'cordoned').map((e) => e.node)).toContain('k8s-ctrl-1');
    // The lab's node watch records the uncordon as the API server reports it: at most a moment later.
    await eventually(
      'the uncordon on the lab timeline',
      async () =>
        (await eventsSince(lab, mark)).some((e) => e.kind === 'uncordoned' && e.node === 'k8s-ctrl-1'),
      10_000,
    );
    expect((await labStatus(lab)).every((row) => row.talos === '1.11.3' && !row.cordoned)).toBe(true);
  }, 600_000);

  it('a GPU patch that writes to /etc: pre-flight halts with nothing touched', async () => {
    await lab.addFault('gpu-patch-etc', { node: 'k8s-work-4' });
    const mark = await timelineMark(lab);
    const { message, result } = await failingRun('gpu-patch-etc', '1.11.4');
    expect(message).toMatch(/GPU patches are not safe to apply[\s\S]*k8s-work-4/);
    expect(result.nodes).toEqual([]);
    expect((await eventsSince(lab, mark)).filter((e) => touching.has(e.kind))).toEqual([]);
  }, 600_000);

  it("a GPU worker the inventory gives its role's schematic: pre-flight halts naming the drivers it would lose, nothing touched", async () => {
    const gpuWorker = h.inventory.nodes.find((n) => n.name === 'k8s-work-4');
    // init wrote the schematic the node runs (its image's), not its config's role installer.
    const own = gpuWorker?.schematic;
    expect(own).toBe(GPU_SCHEMATIC);
    if (gpuWorker) delete gpuWorker.schematic;
    try {
      const mark = await timelineMark(lab);
      const { message, result } = await failingRun('gpu-schematic', '1.11.4');
      expect(message).toMatch(
        /k8s-work-4 loads nonfree-kmod-nvidia-production, nvidia-container-toolkit-production \(it runs schematic 9fe678268508…\), which schematic 990731763242… has not/,
      );
      expect(result.nodes).toEqual([]);
      expect((await eventsSince(lab, mark)).filter((e) => touching.has(e.kind))).toEqual([]);
    } finally {
      if (gpuWorker) gpuWorker.schematic = own;
    }
  }, 600_000);

  it('boot-fails: Talos falls back to the old slot, the node is rolled back and the run halted', async () => {
    await lab.addFault('boot-fails', { node: 'k8s-ctrl-1' });
    const { message, result } = await failingRun('boot-fails', '1.11.4');
    expect(message).toMatch(/k8s-ctrl-1 runs Talos 1\.11\.3 after the upgrade to 1\.11\.4/);
    expect(result.nodes).toMatchObject([{ node: 'k8s-ctrl-1', outcome: 'rolled-back' }]);
    const rows = await labStatus(lab);
    expect(rows.every((row) => row.talos === '1.11.3' && row.ready && !row.cordoned)).toBe(true);
    // Replay fixtures of a failed run and of a node's compensation after a failure.
    await recordHistory('talos-upgrade:prox-ops:boot-fails', 'failed-cluster-prox-ops');
    await recordHistory(
      'talos-upgrade:prox-ops:boot-fails:node:k8s-ctrl-1:1.11.4',
      'rolled-back-node-controller',
    );
  }, 600_000);

  // The tests below leave the cluster mixed (some controllers on 1.11.4): they come last.
  it('pause holds the run between nodes, resume goes on; a PDB is forced where allowed; a cancel stops it', async () => {
    await lab.addFault('pdb-blocks-drain', { node: 'k8s-ctrl-1' });
    const mark = await timelineMark(lab);
    const handle = await h.client.workflow.start(clusterUpgrade, {
      taskQueue: h.taskQueue,
      workflowId: 'talos-upgrade:prox-ops:pause-resume',
      args: [{ requestId: 'pause-resume', cluster: 'prox-ops', talos: { to: '1.11.4' }, source: 'test' }],
    });
    const cordoned = async () =>
      (await eventsSince(lab, mark)).filter((e) => e.kind === 'cordoned').map((e) => e.node);
    await eventually('k8s-ctrl-1 cordoned', async () => (await cordoned()).includes('k8s-ctrl-1'), 300_000);
    // The operator's commands through the real CLI: Workflow Updates that say no when they do not apply.
    const operate = (...args: string[]) =>
      runCli([...args, handle.workflowId, '--by', 'test'], {
        env: { ...(process.env as Record<string, string>), TEMPORAL_ADDRESS: testTemporalAddress() },
      });
    // The pause first: k8s-ctrl-1 is done in seconds (its blocked drain is forced after 2 s), and on a
    // loaded machine each CLI call takes seconds too; a pause that came after it would find the run
    // already on k8s-ctrl-2. The refusals are checked while the run is held and after the resume.
    const paused = await operate('pause');
    expect([paused.exitCode, paused.stdout]).toEqual([
      0,
      `${handle.workflowId}: paused: the run holds before its next node (the nodes in flight finish) (phase UpgradingControlPlane, paused)`,
    ]);
    expect((await operate('pause')).stderr).toMatch(/pause refused: already paused$/);
    const noApproval = await operate('approve');
    expect(noApproval.exitCode).toBe(1);
    expect(noApproval.stderr).toMatch(
      /approve refused: this run waits for no approval \(phase UpgradingControlPlane/,
    );
    await eventually(
      'k8s-ctrl-1 done, the run held',
      async () => (await handle.query(progressQuery)).nodes.some((n) => n.node === 'k8s-ctrl-1'),
      300_000,
    );
    // Held: nothing new starts while paused.
    await new Promise((resolve) => setTimeout(resolve, 5000));
    const held = await handle.query(progressQuery);
    expect([held.paused, held.current, await cordoned()]).toEqual([true, [], ['k8s-ctrl-1']]);
    // The PDB's pod was deleted (force allowed): the drain says so in the node run's result.
    const node = h.client.workflow.getHandle<typeof nodeUpgrade>(
      'talos-upgrade:prox-ops:pause-resume:node:k8s-ctrl-1:1.11.4',
    );
    expect(await node.result()).toMatchObject({ outcome: 'upgraded' });
    expect(await drainResult(node.workflowId)).toMatchObject({ forced: [expect.any(String)] });

    expect(await operate('resume')).toMatchObject({
      exitCode: 0,
      stdout: expect.stringMatching(/: resumed \(phase \w+\)$/),
    });
    const notPaused = await operate('resume');
    expect([notPaused.exitCode, notPaused.stderr]).toEqual([
      1,
      `${handle.workflowId}: resume refused: not paused`,
    ]);
    await eventually('the next node to start', async () => (await cordoned()).length > 1, 120_000);
    await handle.cancel();
    const result = await handle.result();
    expect(result.outcome).toBe('cancelled');
    expect((await labStatus(lab)).every((row) => row.ready && !row.cordoned)).toBe(true);
    expect((await labReport(lab)).violations).toEqual([]);
    // A replay fixture of Updates (pause, resume, refusals) and a cancel in the middle of the workers.
    await recordHistory(handle.workflowId, 'paused-cancelled-cluster-prox-ops');
  }, 900_000);

  it('an etcd member turning unhealthy during the run: the next controller is refused, nothing lost', async () => {
    const run = failingRun('quorum-mid-run', '1.11.4');
    const handle = h.client.workflow.getHandle('talos-upgrade:prox-ops:quorum-mid-run');
    await eventually(
      'the control plane phase',
      async () =>
        (await handle.query(progressQuery).catch(() => undefined))?.phase === 'UpgradingControlPlane',
      300_000,
    );
    await lab.addFault('etcd-unhealthy', { node: 'k8s-ctrl-3' });
    const { message, result } = await run;
    expect(message).toMatch(/quorum/i);
    const refused = result.nodes.filter((n) => n.outcome !== 'skipped' && n.outcome !== 'upgraded');
    expect(refused).toMatchObject([{ outcome: 'rolled-back', error: expect.stringMatching(/quorum/i) }]);
    // A replay fixture of the gate's refusal after its three reads (the etcd-gate-confirms patch).
    await recordHistory(
      `${handle.workflowId}:node:${refused[0]?.node ?? ''}:1.11.4`,
      'etcd-refused-node-controller',
    );
    await lab.clearFaults();
    expect((await labStatus(lab)).every((row) => row.ready && !row.cordoned)).toBe(true);
    expect((await labReport(lab)).violations).toEqual([]);
  }, 900_000);
});

/** The result of the drainNode activity in a node run's history. */
async function drainResult(workflowId: string): Promise<unknown> {
  const history = await h.client.workflow.getHandle(workflowId).fetchHistory();
  const events = history.events ?? [];
  const scheduled = events.find(
    (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'drainNode',
  );
  const completed = events.find(
    (e) =>
      String(e.activityTaskCompletedEventAttributes?.scheduledEventId ?? '') ===
      String(scheduled?.eventId ?? ''),
  );
  const payload = completed?.activityTaskCompletedEventAttributes?.result?.payloads?.[0];
  return payload?.data ? (JSON.parse(Buffer.from(payload.data).toString('utf8')) as unknown) : undefined;
}

// Last: its first controller ends on the new version.
describe('a registry outage after pre-flight (Talos before 1.13)', () => {
  it('a node whose own path to the registry is down: Talos answers neither upgrade call, and the node is undone', async () => {
    // Only the node's pulls fail (its mirror, its route): the worker's check of the installer passes.
    // The pull budget outlasts both calls (15 s each, the policy's nodeReadyTimeout).
    await lab.addFault('registry-down', { node: 'k8s-work-6', seconds: 120 });
    const mark = await timelineMark(lab);
    const started = Date.now();
    const { message, result } = await failingUpgrade(h, 'prox-ops', 'registry-unanswered', {
      talos: { to: '1.11.4' },
      nodes: ['k8s-work-6'],
    });
    expect(message).toContain('k8s-work-6: Talos did not answer the upgrade call to 1.11.4 within 15s');
    expect(message).toContain('nothing was installed as far as talosctl saw, on the call made once more too');
    expect(result.nodes.map((n) => [n.node, n.outcome])).toEqual([['k8s-work-6', 'rolled-back']]);
    // Two calls, not the ten a wait that ran out gets (the undo's third finds the node on 1.11.3).
    const history = await h.client.workflow
      .getHandle('talos-upgrade:prox-ops:registry-unanswered:node:k8s-work-6:1.11.4')
      .fetchHistory();
    const calls = (history.events ?? []).filter(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'upgradeNodeInPlace',
    );
    const failed = (history.events ?? []).filter((e) => e.activityTaskFailedEventAttributes);
    expect([calls.length, failed.length]).toEqual([3, 2]);
    expect(Date.now() - started).toBeLessThan(240_000);
    const events = (await eventsSince(lab, mark)).filter((e) => e.node === 'k8s-work-6');
    expect(events.map((e) => e.kind)).not.toContain('upgrade-started');
    await eventually(
      'the uncordon on the lab timeline',
      async () =>
        (await eventsSince(lab, mark)).some((e) => e.kind === 'uncordoned' && e.node === 'k8s-work-6'),
      10_000,
    );
    await lab.clearFaults();
    const row = (await labStatus(lab)).find((r) => r.node === 'k8s-work-6');
    expect([row?.talos, row?.ready, row?.cordoned]).toEqual(['1.11.3', true, false]);
  }, 600_000);

  it('a cancel while the call is made once more: the run ends cancelled, the node undone and uncordoned', async () => {
    await lab.addFault('registry-down', { node: 'k8s-work-6', seconds: 120 });
    const mark = await timelineMark(lab);
    const workflowId = 'talos-upgrade:prox-ops:registry-unanswered-cancel';
    const handle = await h.client.workflow.start(clusterUpgrade, {
      taskQueue: h.taskQueue,
      workflowId,
      args: [
        {
          requestId: 'registry-unanswered-cancel',
          cluster: 'prox-ops',
          source: 'test',
          talos: { to: '1.11.4' },
          nodes: ['k8s-work-6'],
        },
      ],
    });
    // The first call went unanswered; the second is under way.
    const node = h.client.workflow.getHandle(`${workflowId}:node:k8s-work-6:1.11.4`);
    await eventually(
      'the first upgrade call unanswered',
      async () =>
        (await node.fetchHistory().catch(() => undefined))?.events?.some(
          (e) => e.activityTaskFailedEventAttributes,
        ),
      120_000,
    );
    await handle.cancel();
    expect((await handle.result()).outcome).toBe('cancelled');
    await eventually(
      'the uncordon on the lab timeline',
      async () =>
        (await eventsSince(lab, mark)).some((e) => e.kind === 'uncordoned' && e.node === 'k8s-work-6'),
      10_000,
    );
    expect((await eventsSince(lab, mark)).map((e) => e.kind)).not.toContain('upgrade-started');
    await lab.clearFaults();
    const row = (await labStatus(lab)).find((r) => r.node === 'k8s-work-6');
    expect([row?.talos, row?.ready, row?.cordoned]).toEqual(['1.11.3', true, false]);
  }, 600_000);

  it('the next node checks its installer before its cordon: refused with nothing on it touched', async () => {
    const start = await timelineMark(lab);
    const run = failingRun('registry-mid-run', '1.11.4');
    // The first controller is through; the outage starts while it finishes (a registry down for every
    // client: the worker's check sees it too).
    const first = await eventually(
      'the first controller upgraded',
      async () => (await eventsSince(lab, start)).find((e) => e.kind === 'upgrade-finished')?.node,
      300_000,
    );
    const mark = await timelineMark(lab);
    await lab.addFault('registry-down', {});
    const { message, result } = await run;
    // A controller an earlier test left on 1.11.4 is skipped.
    const moved = result.nodes.filter((n) => n.outcome !== 'skipped');
    const refused = moved.find((n) => n.outcome !== 'upgraded')?.node ?? '';
    expect(moved.map((n) => [n.node, n.outcome])).toEqual([
      [first, 'upgraded'],
      [refused, 'rolled-back'],
    ]);
    expect(message).toContain(`${refused}: the registry did not serve its installer`);
    expect(message).toContain(`nothing on ${refused} was touched`);
    const events = await eventsSince(lab, mark);
    expect(events.filter((e) => e.node === refused && touching.has(e.kind))).toEqual([]);
    expect(events.some((e) => e.kind === 'fault-fired' && e.detail === 'registry-down' && !e.node)).toBe(
      true,
    );
    await lab.clearFaults();
    const rows = await labStatus(lab);
    expect(rows.every((row) => row.ready && !row.cordoned)).toBe(true);
    expect(rows.find((row) => row.node === refused)?.talos).toBe('1.11.3');
    expect(rows.find((row) => row.node === first)?.talos).toBe('1.11.4');
    expect((await labReport(lab)).violations).toEqual([]);
  }, 900_000);
});
