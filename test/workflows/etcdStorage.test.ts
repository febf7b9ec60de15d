import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { WorkflowFailedError, type ApplicationFailure } from '@temporalio/client';
import { nodeUpgrade } from '../../src/workflows/index.js';
import { nodeProgressQuery, undoUpdate } from '../../src/workflows/signals.js';
import type { NodeUpgradeInput } from '../../src/workflows/types.js';
import { eventually, startLab, type Lab } from '../lab/labHarness.js';
import { eventsSince, labReport, labStatus, timelineMark } from './labViews.js';
import { startWorkflowHarness, type WorkflowHarness } from './workflowHarness.js';

/**
 * A Talos 1.13.8 atlas lab (etcd 3.6.12) whose controllers are taken to 1.14.1 (etcd 3.7.1) one node
 * run at a time, pets, on the real talosctl 1.14.1. Once the last one runs 3.7, etcd's leader raises
 * the storage version to 3.7.0, and the etcd 1.13.8 runs would no longer start there: the last
 * controller's undo must not take it down (the lab's etcd refuses an older version as etcd does).
 */
let lab: Lab;
let h: WorkflowHarness;
beforeAll(async () => {
  lab = await startLab('atlas', ['--talos', '1.13.8']);
  h = await startWorkflowHarness(lab);
}, 900_000);
afterAll(async () => {
  await h?.stop();
  await lab?.stop();
});

const input = (node: string): NodeUpgradeInput => ({
  cluster: 'atlas',
  node,
  role: 'controlplane',
  strategy: 'pets',
  from: '1.13.8',
  to: '1.14.1',
  timing: {
    drainTimeoutMs: h.inventory.policy.drain.timeout,
    nodeReadyTimeoutMs: h.inventory.policy.nodeReadyTimeout,
    stabilisationMs: h.inventory.policy.stabilisation,
    recoveryTimeoutMs: h.inventory.policy.recoveryTimeout,
    heartbeatTimeoutMs: h.inventory.policy.heartbeatTimeout,
  },
  drainForce: false,
  installBeforeDrain: true,
});
const upgrade = (node: string) =>
  h.client.workflow.start(nodeUpgrade, {
    taskQueue: h.taskQueue,
    workflowId: `talos-upgrade:atlas:etcd-storage:node:${node}:1.14.1`,
    args: [input(node)],
    workflowExecutionTimeout: '20 minutes',
  });

/** `etcd status` of every controller: node -> [PROTOCOL, STORAGE]. */
async function etcdVersions(): Promise<Record<string, [string, string]>> {
  const controllers = ['talos-cp-1', 'talos-cp-2', 'talos-cp-3'];
  const { stdout } = await lab.talosctl('-n', controllers.map((n) => lab.ip(n)).join(','), 'etcd', 'status');
  const byIp = new Map<string, [string, string]>();
  for (const row of stdout.trim().split('\n').slice(1)) {
    // NODE first, PROTOCOL and STORAGE last (no ERRORS on a healthy member).
    const cells = row.trim().split(/\s{2,}/);
    byIp.set(cells[0] ?? '', [cells.at(-2) ?? '', cells.at(-1) ?? '']);
  }
  return Object.fromEntries(controllers.map((n) => [n, byIp.get(lab.ip(n)) ?? ['', '']]));
}

describe('the last controller of a hop that raises etcd 3.6 -> 3.7 (Talos 1.13.8 -> 1.14.1)', () => {
  it('goes forward node by node; its undo is refused with the downgrade steps, and goes through once etcd is downgraded', async () => {
    for (const node of ['talos-cp-1', 'talos-cp-2']) {
      const result = await (await upgrade(node)).result();
      expect(result).toMatchObject({ node, outcome: 'upgraded' });
    }
    // Two of three on 3.7: the cluster (and its storage) stays at the lowest, 3.6.
    expect(await etcdVersions()).toEqual({
      'talos-cp-1': ['3.7.1', '3.6.0'],
      'talos-cp-2': ['3.7.1', '3.6.0'],
      'talos-cp-3': ['3.6.12', '3.6.0'],
    });

    // The last one boots 1.14.1 and then fails its health gate: its undo would boot etcd 3.6 again.
    await lab.addFault('pod-crashloop', { node: 'talos-cp-3', version: '1.14.1' });
    const mark = await timelineMark(lab);
    const handle = await upgrade('talos-cp-3');
    const failed = handle.result().then(
      () => undefined,
      (e: unknown) => e,
    );
    let stuck: { undo: string; error: string } | undefined;
    await eventually(
      'the undo to be stuck',
      async () => {
        stuck = (await handle.query(nodeProgressQuery)).stuck;
        return !!stuck;
      },
      600_000,
    );
    expect(stuck?.undo).toBe('upgrade back');
    expect(stuck?.error).toMatch(
      /^not rolling talos-cp-3 back to Talos 1\.13\.8: the etcd it ran there \(3\.6\.12\)/,
    );
    expect(stuck?.error).toMatch(/etcd downgrade validate 3\.6.*etcd downgrade enable 3\.6.*STORAGE 3\.6\.0/);
    // Nothing was taken down: the node is up on 1.14.1, every member runs 3.7 on storage 3.7.0.
    expect((await labStatus(lab)).find((row) => row.node === 'talos-cp-3')).toMatchObject({
      talos: '1.14.1',
    });
    expect(await etcdVersions()).toEqual({
      'talos-cp-1': ['3.7.1', '3.7.0'],
      'talos-cp-2': ['3.7.1', '3.7.0'],
      'talos-cp-3': ['3.7.1', '3.7.0'],
    });

    // The operator follows the message: etcd's downgrade to 3.6 (one minor below the cluster version only).
    const cp1 = lab.ip('talos-cp-1');
    const tooFar = await lab.talosctl('-n', cp1, 'etcd', 'downgrade', 'validate', '3.5');
    expect(tooFar.stderr).toMatch(/etcdserver: invalid downgrade target version/);
    for (const action of ['validate', 'enable']) {
      const answered = await lab.talosctl('-n', cp1, 'etcd', 'downgrade', action, '3.6');
      expect([answered.exitCode, answered.stdout]).toEqual([
        0,
        expect.stringContaining(`downgrade ${action} success, cluster version 3.7`),
      ]);
    }
    // The members keep their 3.7 binaries; etcd's leader moves the storage to the target.
    await eventually(
      'STORAGE 3.6.0 on every member',
      async () => Object.values(await etcdVersions()).every(([, storage]) => storage === '3.6.0'),
      60_000,
    );
    await handle.executeUpdate(undoUpdate, { args: [{ action: 'retry', by: 'ops' }] });
    const error = await failed;
    expect(error).toBeInstanceOf(WorkflowFailedError);
    const failure = (error as WorkflowFailedError).cause as ApplicationFailure;
    expect(failure.type).toBe('NodeUpgradeFailed');
    expect(failure.details?.[0]).toMatchObject({ node: 'talos-cp-3', outcome: 'rolled-back' });
    const cancelled = await lab.talosctl('-n', cp1, 'etcd', 'downgrade', 'cancel');
    expect(cancelled.stdout).toContain('downgrade cancel success, cluster version 3.6');
    await lab.clearFaults();
    // Back on 1.13.8 with its etcd 3.6 running on storage 3.6; the cluster version stays 3.6.
    const events = await eventsSince(lab, mark);
    expect(events.filter((e) => e.kind === 'etcd-refused')).toEqual([]);
    expect(events.some((e) => e.kind === 'etcd-storage-raised' && e.detail === '3.7.0')).toBe(true);
    expect(await etcdVersions()).toEqual({
      'talos-cp-1': ['3.7.1', '3.6.0'],
      'talos-cp-2': ['3.7.1', '3.6.0'],
      'talos-cp-3': ['3.6.12', '3.6.0'],
    });
    const cp3 = (await labStatus(lab)).find((row) => row.node === 'talos-cp-3');
    expect(cp3).toMatchObject({ talos: '1.13.8', ready: true, cordoned: false });
    expect((await labReport(lab)).violations).toEqual([]);
  }, 1_800_000);

  it('what the refusal spared: without a downgrade, a node rolled back by hand has an etcd 3.6 that does not start on storage 3.7', async () => {
    const ip = lab.ip('talos-cp-3');
    const config = (await lab.talosctl('-n', ip, 'get', 'mc', '-o', 'yaml')).stdout;
    // The node's installer, as its config names it (a pets run leaves the config's tag as it was).
    const image = /image: (\S+installer\S*):v\d+\.\d+\.\d+/.exec(config)?.[1] ?? '';
    expect(image).toMatch(/installer/);
    const install = async (version: string) => {
      const installed = await lab.talosctl(
        '-n',
        ip,
        'upgrade',
        '--image',
        `${image}:v${version}`,
        '--no-reboot',
      );
      expect(installed.exitCode).toBe(0);
      expect((await lab.talosctl('-n', ip, 'reboot', '--wait', '--timeout', '3m')).exitCode).toBe(0);
    };
    // No downgrade left from the test before, whatever became of it (cancel answers success regardless).
    await lab.talosctl('-n', lab.ip('talos-cp-1'), 'etcd', 'downgrade', 'cancel');
    // Forward again by hand: every member on 3.7, and the storage follows within the leader's round.
    await install('1.14.1');
    await eventually(
      'STORAGE 3.7.0 again',
      async () => Object.values(await etcdVersions()).every(([, storage]) => storage === '3.7.0'),
      60_000,
    );
    const mark = await timelineMark(lab);
    await install('1.13.8');
    const refused = (await eventsSince(lab, mark)).find((e) => e.kind === 'etcd-refused');
    expect(refused).toMatchObject({
      node: 'talos-cp-3',
      detail: 'etcd 3.6.12: version "3.7.0" is not supported',
    });
    // The storage version does not come down by itself: the two others still say 3.7.0.
    const others = await lab.talosctl(
      '-n',
      `${lab.ip('talos-cp-1')},${lab.ip('talos-cp-2')}`,
      'etcd',
      'status',
    );
    expect(others.stdout.match(/ 3\.7\.1\s+3\.7\.0/g)).toHaveLength(2);
    await install('1.14.1');
    await eventually(
      'talos-cp-3 on etcd 3.7.1 again',
      async () => (await etcdVersions())['talos-cp-3']?.[0] === '3.7.1',
      60_000,
    );
    expect((await labReport(lab)).violations).toEqual([]);
  }, 600_000);
});
