import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../../src/activities/index.js';
import { clusterUpgrade } from '../../src/workflows/index.js';
import { eventually, installerImage, startLab, type Lab } from '../lab/labHarness.js';
import { failingUpgrade } from './runs.js';
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
    // Long enough between two control-plane nodes for a test to break etcd in the middle of a hop,
    // before the next node's gates.
    inventory.policy.stabilisation = 15_000;
  });
}, 900_000);
afterEach(async () => {
  await lab.clearFaults();
});
afterAll(async () => {
  await h?.stop();
  await lab?.stop();
});

const image = (version: string) => installerImage(lab, version, ATLAS_SCHEMATIC);
const version = async (node: string) =>
  /Server:[\s\S]*?Tag:\s+v(\S+)/.exec((await lab.talosctl('-n', lab.ip(node), 'version')).stdout)?.[1];
const bootId = async (node: string) =>
  (await lab.talosctl('-n', lab.ip(node), 'read', '/proc/sys/kernel/random/boot_id')).stdout.trim();
const cmdline = async (node: string) =>
  (
    JSON.parse((await lab.talosctl('-n', lab.ip(node), 'get', 'kernelcmdlines', '-o', 'json')).stdout) as {
      spec: { cmdline: string };
    }
  ).spec.cmdline;

const failingRun = (id: string, to: string) => failingUpgrade(h, 'atlas', id, { talos: { to } });

describe('the real talosctl v1.14.1 against lab Talos 1.13 nodes', () => {
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

  it('a retried reboot whose node booted since (a new boot id) reports the fall-back and does not reboot again', async () => {
    // What Temporal hands a retry: the heartbeat details of the attempt before, which rebooted the
    // node (here by hand) and lost the answer. The activity runs for real against the lab node.
    const node = 'talos-wk-1';
    const before = await bootId(node);
    expect((await lab.talosctl('-n', lab.ip(node), 'reboot', '--wait', '--timeout', '60s')).exitCode).toBe(0);
    expect(await bootId(node)).not.toBe(before);
    const mark = await timelineMark(lab);
    const retry = new MockActivityEnvironment({ attempt: 2, heartbeatDetails: { bootIdBefore: before } });
    const error = await retry
      .run(createActivities(h.deps).rebootIntoUpgrade, { cluster: 'atlas', node, version: '1.13.8' })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(ApplicationFailure);
    expect(error).toMatchObject({ type: 'VersionMismatch', nonRetryable: true });
    expect((error as Error).message).toMatch(/talos-wk-1 runs Talos 1\.13\.0 after its reboot into 1\.13\.8/);
    expect((await eventsSince(lab, mark)).filter((e) => e.kind === 'reboot')).toEqual([]);
  }, 180_000);

  it('a retried install on the boot an earlier attempt installed on is not repeated: the reboot will tell', async () => {
    // Talos writes the slot after the bootloader's default: a second install of the new version before a
    // reboot would write over the slot the node runs from. What Temporal hands the retry is the boot id
    // the earlier attempt installed on; the node has not booted since.
    const node = 'talos-wk-1';
    const boot = await bootId(node);
    const mark = await timelineMark(lab);
    const retry = new MockActivityEnvironment({ attempt: 2, heartbeatDetails: { installedOnBoot: boot } });
    const result = await retry.run(createActivities(h.deps).installUpgrade, {
      cluster: 'atlas',
      node,
      version: '1.13.8',
    });
    expect(result).toMatchObject({ installed: true, running: '1.13.0', unconfirmed: true });
    const kinds = (await eventsSince(lab, mark)).map((e) => e.kind);
    expect(kinds.filter((k) => k === 'upgrade-installed' || k === 'image-pulled')).toEqual([]);
  }, 120_000);

  it('after an unconfirmed install, a node back on its old version was not installed; after a second one it is a failure', async () => {
    const node = 'talos-wk-1';
    const before = await bootId(node);
    const mark = await timelineMark(lab);
    const activities = createActivities(h.deps);
    const first = await new MockActivityEnvironment().run(activities.rebootIntoUpgrade, {
      cluster: 'atlas',
      node,
      version: '1.13.8',
      unconfirmed: true,
    });
    expect(first).toEqual({ alreadyAt: false, notInstalled: true });
    expect(await version(node)).toBe('1.13.0');
    expect((await eventsSince(lab, mark)).filter((e) => e.kind === 'reboot')).toHaveLength(1);
    // A retry of the reboot after the second install, whose node booted since: a failure, in words that
    // name both causes, and no other reboot.
    const retry = new MockActivityEnvironment({ attempt: 2, heartbeatDetails: { bootIdBefore: before } });
    const error = await retry
      .run(activities.rebootIntoUpgrade, {
        cluster: 'atlas',
        node,
        version: '1.13.8',
        unconfirmed: true,
        secondInstall: true,
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toMatchObject({ type: 'VersionMismatch', nonRetryable: true });
    expect((error as Error).message).toMatch(/either 1\.13\.8 failed to boot .* never wrote its slot/);
    expect((await eventsSince(lab, mark)).filter((e) => e.kind === 'reboot')).toHaveLength(1);
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
    await lab.addFault('etcd-unhealthy', { node: 'talos-cp-2' });
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
  it('an etcd member that breaks while a controller drains: the gate right before its reboot refuses', async () => {
    // The drain of talos-cp-1 is held by a PDB for 20 s (then forced); etcd breaks in that window,
    // after the gate before the cordon passed. Talos 1.13 would reboot into the new slot regardless.
    const drain = h.inventory.policy.drain;
    h.inventory.policy.drain = { timeout: 20_000, force: true };
    try {
      await lab.addFault('pdb-blocks-drain', { node: 'talos-cp-1' });
      const mark = await timelineMark(lab);
      const run = failingRun('gate-before-reboot', '1.13.8');
      await eventually(
        'talos-cp-1 cordoned',
        async () =>
          (await eventsSince(lab, mark)).some((e) => e.kind === 'cordoned' && e.node === 'talos-cp-1'),
        300_000,
      );
      await lab.addFault('etcd-unhealthy', { node: 'talos-cp-2' });
      const { message, result } = await run;
      expect(message).toMatch(/etcd on atlas cannot lose talos-cp-1 without losing quorum/);
      expect(result.nodes).toMatchObject([{ node: 'talos-cp-1', outcome: 'rolled-back' }]);
      const events = await eventsSince(lab, mark);
      const cp1 = events.filter((e) => e.node === 'talos-cp-1').map((e) => e.kind);
      // Installed, cordoned and drained, then never rebooted; uncordoned by the undo.
      expect(cp1).toEqual(expect.arrayContaining(['upgrade-installed', 'cordoned', 'uncordoned']));
      expect(cp1.filter((k) => k === 'reboot' || k === 'upgrade-finished')).toEqual([]);
      const status = await labStatus(lab);
      expect(status.find((row) => row.node === 'talos-cp-1')).toMatchObject({
        talos: '1.13.0',
        ready: true,
        cordoned: false,
      });
      // No staged version differs from what a node runs: the next reboot boots the same Talos.
      expect(status.filter((row) => row.staged && row.staged !== row.talos)).toEqual([]);
      expect((await labReport(lab)).violations).toEqual([]);
    } finally {
      h.inventory.policy.drain = drain;
    }
  }, 900_000);

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
    await lab.addFault('etcd-unhealthy', { node: victim });
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
    // The arguments atlas's schematic carries survive any install (the installer has them); the drop
    // loses the config's. The user adds one to talos-wk-1's config, as for a GPU, and has it checked.
    const wk1 = h.inventory.nodes.find((n) => n.name === 'talos-wk-1');
    if (!wk1) throw new Error('atlas has talos-wk-1');
    const own = wk1.kernelArgs;
    // A strategic merge patch: Talos appends the list's items to the config's.
    const patched = await lab.talosctl(
      '-n',
      lab.ip('talos-wk-1'),
      'patch',
      'mc',
      '--mode',
      'no-reboot',
      '--patch',
      '{"machine":{"install":{"extraKernelArgs":["nosmt"]}}}',
    );
    expect([patched.exitCode, patched.stderr]).toEqual([0, expect.any(String)]);
    wk1.kernelArgs = [...(own ?? []), 'nosmt'];
    try {
      await lab.addFault('kernel-args-dropped', { node: 'talos-wk-1' });
      const { message } = await failingRun('kernel-args', '1.13.8');
      expect(message).toMatch(/talos-wk-1 booted without the kernel arguments nosmt .*rolled back/);
      const row = (await labStatus(lab)).find((r) => r.node === 'talos-wk-1');
      expect(row).toMatchObject({ talos: '1.13.0', ready: true, cordoned: false });
      // The rollback took the legacy upgrade, which writes the config's arguments whatever the fault
      // does to installs; the schematic's were there all along.
      expect(await cmdline('talos-wk-1')).toMatch(/i915\.enable_guc=3.* nosmt/);
    } finally {
      wk1.kernelArgs = own;
    }
  }, 900_000);

  // After the tests above only talos-wk-1 still runs 1.13.0: each run below touches that node alone.
  it('boot-fails on the new slot: Talos falls back, the node is rolled back, the next boot the same', async () => {
    await lab.addFault('boot-fails', { node: 'talos-wk-1' });
    const mark = await timelineMark(lab);
    const { message, result } = await failingRun('boot-fails', '1.13.8');
    // One reboot into the new slot and none after the fall-back; the node already runs the old version and
    // has booted since the install, so the undo neither upgrades back nor reinstalls: one install only.
    const kinds = (await eventsSince(lab, mark)).filter((e) => e.node === 'talos-wk-1').map((e) => e.kind);
    expect(kinds.filter((k) => k === 'reboot')).toHaveLength(1);
    expect(kinds.filter((k) => k === 'upgrade-installed')).toHaveLength(1);
    expect(kinds).toContain('upgrade-fell-back');
    expect(kinds).not.toContain('upgrade-started');
    expect(message).toMatch(/talos-wk-1 runs Talos 1\.13\.0 after its reboot into 1\.13\.8: .*fell back/);
    expect(result.nodes.filter((n) => n.outcome !== 'skipped')).toMatchObject([
      { node: 'talos-wk-1', outcome: 'rolled-back' },
    ]);
    const wk1 = (await labStatus(lab)).find((row) => row.node === 'talos-wk-1');
    expect(wk1).toMatchObject({ talos: '1.13.0', ready: true, cordoned: false });
    // Machined's revert made the running slot the default again: the next boot is the same.
    expect(wk1?.staged).toBeUndefined();
    expect((await labReport(lab)).violations).toEqual([]);
  }, 600_000);

  it('not Ready after the reboot: rolled back through the legacy API, Ready again on 1.13.0', async () => {
    const nodeReadyTimeout = h.inventory.policy.nodeReadyTimeout;
    h.inventory.policy.nodeReadyTimeout = 20_000;
    try {
      await lab.addFault('not-ready-after-upgrade', { node: 'talos-wk-1' });
      const mark = await timelineMark(lab);
      const { message, result } = await failingRun('not-ready', '1.13.8');
      // talosctl reboot --wait gives up on the node's unmet nodeReady condition; on a loaded machine its
      // 20 s can run out before the node answers again (a retryable timeout), and the retry, finding
      // 1.13.8 booted, leaves it to the Ready wait that follows (a clean-clone run on 2026-11-26).
      expect(message).toMatch(
        /rebooting talos-wk-1 into 1\.13\.8 failed: [\s\S]*node is not ready|talos-wk-1 was not Ready with Talos \(v1\.13\.8\) within 20s/,
      );
      expect(result.nodes.filter((n) => n.outcome !== 'skipped')).toMatchObject([
        { node: 'talos-wk-1', outcome: 'rolled-back' },
      ]);
      const wk1 = (await labStatus(lab)).find((row) => row.node === 'talos-wk-1');
      expect(wk1).toMatchObject({ talos: '1.13.0', ready: true, cordoned: false });
      // The legacy upgrade back booted the old version: the next boot is the same.
      expect(wk1?.staged).toBeUndefined();
      // Installed before the cordon, and the way back took the legacy sequence.
      const kinds = (await eventsSince(lab, mark)).filter((e) => e.node === 'talos-wk-1').map((e) => e.kind);
      expect(kinds.indexOf('upgrade-installed')).toBeGreaterThanOrEqual(0);
      expect(kinds.indexOf('upgrade-installed')).toBeLessThan(kinds.indexOf('cordoned'));
      expect(kinds).toContain('upgrade-started');
      expect((await labReport(lab)).violations).toEqual([]);
    } finally {
      h.inventory.policy.nodeReadyTimeout = nodeReadyTimeout;
    }
  }, 600_000);

  it("a registry that answers talos-wk-1's pulls 503 for Talos's whole pull budget: refused before its cordon, nothing installed", async () => {
    // The lab plays Talos's 20 minutes as 3 s: its backoff, every error but NotFound retried.
    await lab.addFault('registry-down', { node: 'talos-wk-1', seconds: 3 });
    const mark = await timelineMark(lab);
    try {
      const { message } = await failingRun('registry-down', '1.13.8');
      expect(message).toMatch(
        /talos-wk-1: Talos retried the pull of \S+ for its whole budget \(20 minutes\) and gave up \(failed to pull image .*503 Service Unavailable\); nothing was installed/,
      );
    } finally {
      await lab.clearFaults();
    }
    const kinds = (await eventsSince(lab, mark)).filter((e) => e.node === 'talos-wk-1').map((e) => e.kind);
    expect(kinds).toContain('fault-fired');
    expect(
      kinds.filter((k) => ['cordoned', 'upgrade-installed', 'upgrade-started', 'reboot'].includes(k)),
    ).toEqual([]);
    expect((await labStatus(lab)).find((row) => row.node === 'talos-wk-1')).toMatchObject({
      talos: '1.13.0',
      ready: true,
      cordoned: false,
    });
  }, 600_000);

  it('a clean run (pulls answered 429 twice, an install answer lost, a Talos API blinking mid-node): every node installs once before it is cordoned, and comes back with its kernel arguments', async () => {
    // Talos retries a 429 with its own backoff (nothing reads Retry-After): the pull just takes longer.
    await lab.addFault('registry-throttled', { node: 'talos-wk-1', times: 2 });
    await lab.addFault('install-answer-lost', { node: 'talos-wk-1' });
    const mark = await timelineMark(lab);
    const running = h.client.workflow.execute(clusterUpgrade, {
      taskQueue: h.taskQueue,
      workflowId: 'talos-upgrade:atlas:to-1-13-8',
      args: [{ requestId: 'to-1-13-8', cluster: 'atlas', talos: { to: '1.13.8' }, source: 'test' }],
      workflowExecutionTimeout: '20 minutes',
    });
    // The node's Talos API blinks once it is out of service: the reboot and the reads after it are retried.
    // Before that, the stream of its install breaks after the slot was written: the product does not
    // install again on that boot (it would write over the running slot); the reboot shows the new version.
    await eventually(
      'talos-wk-1 cordoned',
      async () =>
        (await eventsSince(lab, mark)).some((e) => e.kind === 'cordoned' && e.node === 'talos-wk-1'),
      300_000,
    );
    // Through the lab's API: through the talos-lab command, on a machine loaded by four suites, the node
    // had made its last Talos calls before the fault was armed (2026-11-26), and it never fired.
    await lab.addFault('talosctl-transient', { node: 'talos-wk-1', times: 3 });
    const result = await running;
    expect(result.outcome).toBe('succeeded');
    const events = await eventsSince(lab, mark);
    expect(events.filter((e) => e.kind === 'fault-fired' && e.detail === 'talosctl-transient')).toHaveLength(
      3,
    );
    // However many calls failed, the node was installed and rebooted once.
    expect(events.filter((e) => e.kind === 'fault-fired' && e.detail === 'install-answer-lost')).toHaveLength(
      1,
    );
    expect(events.filter((e) => e.kind === 'fault-fired' && e.detail === 'registry-throttled')).toHaveLength(
      2,
    );
    expect(events.filter((e) => e.kind === 'upgrade-installed' && e.node === 'talos-wk-1')).toHaveLength(1);
    expect(events.filter((e) => e.kind === 'reboot' && e.node === 'talos-wk-1')).toHaveLength(1);
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

// Last, as it leaves a node that never boots again: what the product's single install per boot avoids.
describe('the lab: two installs before a reboot', () => {
  it('the second writes over the running slot; a version that then fails to boot has no fallback', async () => {
    const node = 'talos-wk-2';
    const mark = await timelineMark(lab);
    for (let i = 0; i < 2; i++) {
      const install = await lab.talosctl(
        '-n',
        lab.ip(node),
        'upgrade',
        '--image',
        image('1.13.4'),
        '--no-reboot',
      );
      expect(install.exitCode).toBe(0);
    }
    expect((await labReport(lab)).violations).toEqual([
      expect.objectContaining({
        invariant: 'boot-fallback',
        detail: expect.stringMatching(
          /talos-wk-2: an install of Talos 1\.13\.4 wrote over slot \w, which runs Talos 1\.13\.8/,
        ),
      }),
    ]);
    await lab.addFault('boot-fails', { node });
    const reboot = await lab.talosctl('-n', lab.ip(node), 'reboot', '--wait', '--timeout', '20s');
    expect(reboot.exitCode).not.toBe(0);
    const events = (await eventsSince(lab, mark)).filter((e) => e.node === node);
    expect(events.map((e) => e.kind)).toContain('boot-loop');
    expect(events.map((e) => e.kind)).not.toContain('upgrade-fell-back');
    expect((await labStatus(lab)).find((row) => row.node === node)?.vm).toBe('rebooting');
  }, 180_000);
});
