import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { PENDING_TAINT } from '../../src/domain/index.js';
import { clusterUpgrade } from '../../src/workflows/index.js';
import { runCli } from '../cli/runCli.js';
import { testTemporalAddress } from '../harness/temporalEnv.js';
import { startLab, type Lab } from '../lab/labHarness.js';
import { eventsSince, labReport, labStatus, timelineMark } from './labViews.js';
import { recordHistory } from './recordHistory.js';
import { failingUpgrade, upgrade } from './runs.js';
import { startWorkflowHarness, type WorkflowHarness } from './workflowHarness.js';

let lab: Lab;
let h: WorkflowHarness;
beforeAll(async () => {
  lab = await startLab('prox-ops');
  h = await startWorkflowHarness(lab);
}, 900_000);
afterAll(async () => {
  await h?.stop();
  await lab?.stop();
});

describe('clusterUpgrade, pets 1.11.3 -> 1.11.4 on prox-ops', () => {
  it('upgrades all 15 nodes, controllers one at a time and first, labels kept, invariants clean', async () => {
    const result = await h.client.workflow.execute(clusterUpgrade, {
      taskQueue: h.taskQueue,
      workflowId: 'talos-upgrade:prox-ops:pets-test',
      args: [
        {
          requestId: 'pets-test',
          cluster: 'prox-ops',
          talos: { from: '1.11.3', to: '1.11.4' },
          source: 'test',
        },
      ],
      workflowExecutionTimeout: '20 minutes',
    });
    expect(result.outcome).toBe('succeeded');
    expect(result.hops).toEqual([
      { from: '1.11.3', to: '1.11.4', strategy: 'pets', reason: 'policy: patch upgrades run as pets' },
    ]);
    expect(result.nodes.map((n) => n.outcome)).toEqual(Array(15).fill('upgraded'));
    expect(result.nodes.slice(0, 3).map((n) => n.node)).toEqual(['k8s-ctrl-1', 'k8s-ctrl-2', 'k8s-ctrl-3']);
    const status = await lab.labCli('status', '--json');
    const rows = (
      JSON.parse(status.stdout) as { rows: Array<{ talos: string; ready: boolean; cordoned: boolean }> }
    ).rows;
    expect(rows.every((r) => r.talos === '1.11.4' && r.ready && !r.cordoned)).toBe(true);
    // The mark the run put on the nodes still to upgrade is off every node again.
    const marked = (await lab.core.listNode()).items.filter((n) =>
      n.spec?.taints?.some((t) => t.key === PENDING_TAINT.key),
    );
    expect(marked.map((n) => n.metadata?.name)).toEqual([]);
    const report = JSON.parse((await lab.labCli('report', '--json')).stdout) as {
      ok: boolean;
      violations: unknown[];
      timeline: Array<{ kind: string; node?: string; at: string }>;
    };
    expect(report.violations).toEqual([]);
    expect(report.ok).toBe(true);
    // Controllers strictly one at a time: each finished before the next started.
    const upgrades = report.timeline.filter(
      (e) => e.kind === 'upgrade-started' || e.kind === 'upgrade-finished',
    );
    const controllerEvents = upgrades
      .filter((e) => e.node?.startsWith('k8s-ctrl'))
      .map((e) => `${e.kind}:${e.node}`);
    expect(controllerEvents).toEqual(
      ['k8s-ctrl-1', 'k8s-ctrl-2', 'k8s-ctrl-3'].flatMap((n) => [
        `upgrade-started:${n}`,
        `upgrade-finished:${n}`,
      ]),
    );
    const lastController = upgrades.filter((e) => e.node?.startsWith('k8s-ctrl')).at(-1)?.at ?? '';
    const firstWorker = upgrades.find((e) => e.node?.startsWith('k8s-work'))?.at ?? '';
    expect(firstWorker > lastController).toBe(true);
    await recordHistory('talos-upgrade:prox-ops:pets-test', 'pets-cluster-prox-ops');
    await recordHistory('talos-upgrade:prox-ops:pets-test:node:k8s-ctrl-1:1.11.4', 'pets-node-controller');
  }, 1_200_000);

  it('a node run writes its phase twice, not per step, and `history` still tells every step', async () => {
    // Not an OSD host: its gate after the upgrade would wait for its OSD to rejoin (a timer or two more).
    const nodeId = 'talos-upgrade:prox-ops:pets-test:node:k8s-work-5:1.11.4';
    const events = (await h.client.workflow.getHandle(nodeId).fetchHistory()).events ?? [];
    const phases = events.filter(
      (e) => e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields?.UpgradePhase,
    );
    expect(phases).toHaveLength(2);
    // At most 40 events per node run: the health gates are local activities, one marker each, and
    // the run's workflow tasks last the policy's heartbeat timeout (60 s), so a gate of some seconds
    // does not renew its task.
    expect(events.length).toBeLessThanOrEqual(40);
    expect(Number(events[0]?.workflowExecutionStartedEventAttributes?.workflowTaskTimeout?.seconds)).toBe(60);
    expect(
      events
        .filter((e) => e.activityTaskScheduledEventAttributes)
        .map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name),
    ).toEqual(['drainNode', 'upgradeNodeInPlace', 'waitForNodeReady']);
    const shown = await runCli(['history', nodeId], { env: { TEMPORAL_ADDRESS: testTemporalAddress() } });
    expect(shown.exitCode).toBe(0);
    // Each line is "HH:MM:SS  words".
    expect(shown.stdout.split('\n').map((line) => line.slice(10))).toEqual([
      'started nodeUpgrade',
      'phase: Upgrading',
      'getTalosVersion done',
      'runHealthChecks done',
      'readNodeMetadata done',
      'checkNodeInstaller done',
      'drainNode done',
      'upgradeNodeInPlace done',
      'waitForNodeReady done',
      'readNodeMetadata done',
      'checkNodeNics done',
      'checkKernelArgs done',
      'uncordonNode done',
      'runHealthChecks done',
      'phase: Done',
      'finished: upgraded',
    ]);
    await recordHistory(nodeId, 'pets-node-worker');
  });
});

// The same lab, on from 1.11.4: across two minors in place (policy `minor: pets`, three workers at a
// time), with the Kubernetes step the hops need; then a patch on Talos 1.13's lifecycle API. Atlas's
// multi-hop test takes the same minors as cattle.
describe('prox-ops 1.11.4 -> 1.12.9 -> 1.13.0 as pets with Kubernetes, then 1.13.0 -> 1.13.4 on the lifecycle API', () => {
  const touching = new Set(['cordoned', 'upgrade-started', 'upgrade-installed', 'vm-destroyed']);
  beforeAll(async () => {
    h.inventory.policy.strategy = { ...h.inventory.policy.strategy, minor: 'pets' };
    h.inventory.policy.maxParallelWorkers = 3;
    await lab.labCli('config', '--max-unavailable-workers', '3');
  });

  it('the NVIDIA CDI prerequisite not acknowledged: pre-flight halts naming both GPU nodes, nothing touched', async () => {
    const mark = await timelineMark(lab);
    const { message, result } = await failingUpgrade(h, 'prox-ops', 'to-1-13-unacknowledged', {
      talos: { to: '1.13.0' },
      kubernetes: { to: '1.35.0' },
    });
    expect(message).toMatch(/CDI for NVIDIA GPUs: before k8s-work-4, k8s-work-14 move to it/);
    expect(message).toMatch(/talos-1\.13-nvidia-cdi to policy\.acknowledged/);
    expect(result.nodes).toEqual([]);
    expect((await eventsSince(lab, mark)).filter((e) => touching.has(e.kind))).toEqual([]);
  }, 300_000);

  it('acknowledged: both hops in place and Kubernetes 1.35, every node back with its NICs and GPUs', async () => {
    h.inventory.policy.acknowledged = ['talos-1.13-nvidia-cdi'];
    const result = await upgrade(h, 'prox-ops', 'to-1-13', {
      talos: { to: '1.13.0' },
      kubernetes: { to: '1.35.0' },
    });
    expect(result.outcome).toBe('succeeded');
    expect(result.hops).toEqual([
      { from: '1.11.4', to: '1.12.9', strategy: 'pets', reason: 'policy: minor upgrades run as pets' },
      { from: '1.12.9', to: '1.13.0', strategy: 'pets', reason: 'policy: minor upgrades run as pets' },
    ]);
    const rows = await labStatus(lab);
    expect(rows.every((r) => r.talos === '1.13.0' && r.ready && !r.cordoned && !r.staged)).toBe(true);
    const report = await labReport(lab);
    expect(report.violations).toEqual([]);
    expect(report.vms.every((vm) => vm.destroyed === 0)).toBe(true);
    const nodes = await lab.core.listNode();
    expect(nodes.items.map((n) => n.status?.nodeInfo?.kubeletVersion)).toEqual(Array(15).fill('v1.35.0'));
    const gpus = nodes.items
      .filter((n) => Number(n.status?.allocatable?.['nvidia.com/gpu'] ?? 0) > 0)
      .map((n) => n.metadata?.name);
    expect(gpus.sort()).toEqual(['k8s-work-14', 'k8s-work-4']);
  }, 1_800_000);

  it('a patch on 1.13 nodes: each installs before its cordon, nothing on the legacy path, invariants clean', async () => {
    const mark = await timelineMark(lab);
    const result = await upgrade(h, 'prox-ops', 'to-1-13-4', { talos: { to: '1.13.4' } });
    expect(result.outcome).toBe('succeeded');
    expect(result.nodes.map((n) => n.outcome)).toEqual(Array(15).fill('upgraded'));
    const events = await eventsSince(lab, mark);
    for (const { node } of result.nodes) {
      const installed = events.findIndex((e) => e.kind === 'upgrade-installed' && e.node === node);
      const cordoned = events.findIndex((e) => e.kind === 'cordoned' && e.node === node);
      expect([node, installed >= 0 && installed < cordoned]).toEqual([node, true]);
    }
    expect(events.filter((e) => e.kind === 'upgrade-started')).toEqual([]);
    expect((await labReport(lab)).violations).toEqual([]);
    expect((await labStatus(lab)).every((r) => r.talos === '1.13.4' && r.ready && !r.cordoned)).toBe(true);
    // Three lanes, yet the workers that carry Ceph OSDs went one at a time, each only once Ceph had
    // recovered from the last (the lab's Rook: PGs clean again), and the run ended on a clean Ceph.
    const steps = events
      .filter((e) => (e.kind === 'cordoned' && OSD_HOSTS.includes(e.node ?? '')) || e.kind === 'ceph-clean')
      .map((e) => (e.kind === 'ceph-clean' ? 'clean' : 'osd'));
    expect(steps.join(' ')).toBe('osd clean osd clean osd clean');
  }, 1_200_000);

  it('Ceph slow to recover: the node after an OSD host waits for it, then refuses untouched; the OSD host is not rolled back', async () => {
    h.inventory.policy.recoveryTimeout = 15_000;
    await lab.addFault('ceph-slow-recovery', { seconds: 120 });
    const mark = await timelineMark(lab);
    const { message, result } = await failingUpgrade(h, 'prox-ops', 'ceph-slow', {
      talos: { to: '1.13.8' },
      nodes: ['k8s-work-1', 'k8s-work-2'],
    }).finally(async () => {
      h.inventory.policy.recoveryTimeout = 30 * 60_000;
      await lab.clearFaults();
    });
    expect(message).toMatch(
      /k8s-work-2 is not healthy before its upgrade: ⏳ .*Storage Health \(still recovering\): CephCluster rook-ceph is recovering: HEALTH_WARN \(PG_DEGRADED: Degraded data redundancy/,
    );
    expect(result.nodes.map((n) => [n.node, n.outcome])).toEqual([
      ['k8s-work-1', 'upgraded'],
      ['k8s-work-2', 'rolled-back'],
    ]);
    const events = await eventsSince(lab, mark);
    expect(events.filter((e) => touching.has(e.kind)).map((e) => e.node)).toEqual([
      'k8s-work-1',
      'k8s-work-1',
    ]);
    expect((await labStatus(lab)).find((r) => r.node === 'k8s-work-1')).toMatchObject({
      talos: '1.13.8',
      cordoned: false,
    });
    expect((await labReport(lab)).violations).toEqual([]);
  }, 600_000);
});

/** The workers of prox-ops that carry the lab's Rook-Ceph OSDs (lab/cluster/workloads.ts storageHosts). */
const OSD_HOSTS = ['k8s-work-1', 'k8s-work-2', 'k8s-work-3'];
