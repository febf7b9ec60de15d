import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { ApplicationFailure } from '@temporalio/client';
import { WorkflowFailedError } from '@temporalio/client';
import { clusterUpgrade } from '../../src/workflows/index.js';
import type { ClusterUpgradeResult } from '../../src/workflows/types.js';
import { eventually, installerImage, startLab, type Lab } from '../lab/labHarness.js';
import { eventsSince, labReport, labStatus, timelineMark } from './labViews.js';
import { recordHistory } from './recordHistory.js';
import { startWorkflowHarness, type WorkflowHarness } from './workflowHarness.js';

// Talos 1.13 nodes answer `talosctl upgrade` through the lifecycle API: the client pulls and installs,
// the node keeps serving, and a reboot starts the new slot. Nothing on that path checks etcd.
const ATLAS_SCHEMATIC = '4a0d65c669d46663f377e7161e50cfd570c401f26fd9e7bda34a0216b6f1922b';

let lab: Lab;
let h: WorkflowHarness;
beforeAll(async () => {
  lab = await startLab('atlas', ['--talos', '1.13.0']);
  h = await startWorkflowHarness(lab, (inventory) => {
    // Long enough between two control-plane nodes for a test to break etcd in the middle of a hop
    // (before the next node's gates; the gate right before a reboot has no isolated test yet).
    inventory.policy.stabilisation = 15_000;
  });
}, 900_000);
afterEach(async () => {
  await lab.labCli('fault', 'clear');
});
afterAll(async () => {
  await h?.stop();
  await lab?.stop();
});

const image = (version: string) => installerImage(lab, version, ATLAS_SCHEMATIC);
const version = async (node: string) =>
  /Server:[\s\S]*?Tag:\s+v(\S+)/.exec((await lab.talosctl('-n', lab.ip(node), 'version')).stdout)?.[1];
const cmdline = async (node: string) =>
  (
    JSON.parse((await lab.talosctl('-n', lab.ip(node), 'get', 'kernelcmdlines', '-o', 'json')).stdout) as {
      spec: { cmdline: string };
    }
  ).spec.cmdline;

async function failingRun(
  id: string,
  to: string,
): Promise<{ message: string; result: ClusterUpgradeResult }> {
  const error = await h.client.workflow
    .execute(clusterUpgrade, {
      taskQueue: h.taskQueue,
      workflowId: `talos-upgrade:atlas:${id}`,
      args: [{ requestId: id, cluster: 'atlas', talos: { to }, source: 'test' }],
      workflowExecutionTimeout: '20 minutes',
    })
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  expect(error).toBeInstanceOf(WorkflowFailedError);
  const failure = (error as WorkflowFailedError).cause as ApplicationFailure;
  expect(failure.type).toBe('UpgradeFailed');
  return { message: failure.message, result: failure.details?.[0] as ClusterUpgradeResult };
}

describe('the real talosctl v1.13.8 against lab Talos 1.13 nodes', () => {
  it('upgrade --no-reboot installs while the node serves; reboot --wait starts the new slot', async () => {
    const node = 'talos-wk-2';
    const install = await lab.talosctl(
      '-n',
      lab.ip(node),
      'upgrade',
      '--image',
      image('1.13.8'),
      '--no-reboot',
    );
    expect(install.exitCode).toBe(0);
    expect(install.stderr).toContain('upgrade completed');
    expect(await version(node)).toBe('1.13.0');
    expect((await labStatus(lab)).find((row) => row.node === node)?.ready).toBe(true);
    const reboot = await lab.talosctl('-n', lab.ip(node), 'reboot', '--wait', '--timeout', '60s');
    expect(reboot.exitCode).toBe(0);
    expect(await version(node)).toBe('1.13.8');
    expect(await cmdline(node)).toContain('mitigations=off');
  }, 180_000);

  it('a missing installer fails the pull with NotFound, before anything is installed', async () => {
    const result = await lab.talosctl(
      '-n',
      lab.ip('talos-wk-1'),
      'upgrade',
      '--image',
      image('1.13.9'),
      '--no-reboot',
    );
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/error pulling upgrade image: .*code = NotFound/);
  }, 60_000);

  it('the legacy upgrade API of a 1.13 node still refuses when an etcd member is unhealthy', async () => {
    await lab.labCli('fault', 'add', 'etcd-unhealthy', '--node', 'talos-cp-2');
    const result = await lab.talosctl(
      '-n',
      lab.ip('talos-cp-1'),
      'upgrade',
      '--legacy',
      '--image',
      image('1.13.8'),
    );
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/error validating etcd for upgrade: etcd member \w+ is not healthy/);
    expect(await version('talos-cp-1')).toBe('1.13.0');
  }, 60_000);
});

describe('pets on Talos 1.13: install before the drain, our quorum gate, the kernel command line', () => {
  it('an etcd member that turns unhealthy in the middle of the hop: our gate refuses, nothing is lost', async () => {
    const mark = await timelineMark(lab);
    const run = failingRun('etcd-mid-hop', '1.13.8');
    // The first control-plane node finishes (etcd healthy again, uncordoned); before the next one is
    // rebooted, a member the run has not touched breaks.
    let first = '';
    await eventually(
      'a first control-plane node done',
      async () => {
        const done = (await eventsSince(lab, mark)).find(
          (e) => e.kind === 'uncordoned' && e.node?.startsWith('talos-cp-'),
        );
        first = done?.node ?? '';
        return !!first;
      },
      300_000,
    );
    const victim = ['talos-cp-3', 'talos-cp-2'].find((n) => n !== first) ?? '';
    await lab.labCli('fault', 'add', 'etcd-unhealthy', '--node', victim);
    const { message } = await run;
    expect(message).toMatch(/etcd|quorum/i);
    const status = await labStatus(lab);
    expect(status.every((row) => row.ready && !row.cordoned)).toBe(true);
    // Nothing installed for a next boot differs from what the node runs (no staged downgrade or upgrade).
    expect(status.filter((row) => row.staged && row.staged !== row.talos)).toEqual([]);
    const report = await labReport(lab);
    expect(report.violations).toEqual([]);
    // Only the first control-plane node (and talos-wk-2, upgraded by hand above) moved.
    expect(
      status
        .filter((row) => row.talos === '1.13.8')
        .map((row) => row.node)
        .sort(),
    ).toEqual([first, 'talos-wk-2'].sort());
  }, 900_000);

  it('kernel-args-dropped: the node boots without its kernel arguments, is rolled back (legacy API) and reported', async () => {
    await lab.labCli('fault', 'add', 'kernel-args-dropped', '--node', 'talos-wk-1');
    const { message } = await failingRun('kernel-args', '1.13.8');
    expect(message).toMatch(
      /talos-wk-1 booted without the kernel arguments .*i915\.enable_guc=3.*rolled back/,
    );
    const wk1 = (await labStatus(lab)).find((row) => row.node === 'talos-wk-1');
    expect(wk1).toMatchObject({ talos: '1.13.0', ready: true, cordoned: false });
    // The rollback took the legacy upgrade, which writes the arguments whatever the fault does to installs.
    expect(await cmdline('talos-wk-1')).toContain('i915.enable_guc=3');
  }, 900_000);

  it('a clean run: every node installs before it is cordoned, and comes back with its kernel arguments', async () => {
    const mark = await timelineMark(lab);
    const result = await h.client.workflow.execute(clusterUpgrade, {
      taskQueue: h.taskQueue,
      workflowId: 'talos-upgrade:atlas:to-1-13-8',
      args: [{ requestId: 'to-1-13-8', cluster: 'atlas', talos: { to: '1.13.8' }, source: 'test' }],
      workflowExecutionTimeout: '20 minutes',
    });
    expect(result.outcome).toBe('succeeded');
    const events = await eventsSince(lab, mark);
    const upgraded = result.nodes.filter((n) => n.outcome === 'upgraded').map((n) => n.node);
    expect(upgraded.length).toBeGreaterThan(0);
    for (const node of upgraded) {
      const installed = events.findIndex((e) => e.kind === 'upgrade-installed' && e.node === node);
      const cordoned = events.findIndex((e) => e.kind === 'cordoned' && e.node === node);
      expect([node, installed >= 0 && installed < cordoned]).toEqual([node, true]);
    }
    // The legacy sequence (pull and install after the drain) never ran.
    expect(events.filter((e) => e.kind === 'upgrade-started')).toEqual([]);
    expect((await labReport(lab)).violations).toEqual([]);
    expect((await labStatus(lab)).every((row) => row.talos === '1.13.8' && row.ready && !row.cordoned)).toBe(
      true,
    );
    expect(await cmdline('talos-wk-1')).toContain('i915.enable_guc=3');
    await recordHistory('talos-upgrade:atlas:to-1-13-8', 'pets-lifecycle-cluster-atlas');
    await recordHistory('talos-upgrade:atlas:to-1-13-8:node:talos-wk-1:1.13.8', 'pets-lifecycle-node-worker');
  }, 1_200_000);
});
