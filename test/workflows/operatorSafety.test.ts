import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { WorkflowFailedError, type ApplicationFailure, type WorkflowHandle } from '@temporalio/client';
import { enqueueUpgrade, queueWorkflowId } from '../../src/starter/enqueue.js';
import { clusterUpgrade, upgradeQueue } from '../../src/workflows/index.js';
import { enqueueSignal, nodeProgressQuery, queueQuery, undoUpdate } from '../../src/workflows/signals.js';
import type { UpgradeRequest } from '../../src/workflows/types.js';
import { runCli } from '../cli/runCli.js';
import { recordHistory } from './recordHistory.js';
import { clusterQueueLock } from '../harness/clusterQueueLock.js';
import { testTemporalAddress } from '../harness/temporalEnv.js';
import { eventually, startLab, type Lab } from '../lab/labHarness.js';
import { eventsSince, labReport, labStatus, timelineMark } from './labViews.js';
import { startWorkflowHarness, type WorkflowHarness } from './workflowHarness.js';

/**
 * What operators do to runs in flight, on the atlas lab (pets 1.11.3 -> 1.11.4): a stuck undo that
 * waits for them, a cluster run terminated mid-node, a queue terminated mid-run, and redeliveries
 * across the queue's continue-as-new. After each: nothing cordoned, quorum held, invariants clean.
 */
let lab: Lab;
let h: WorkflowHarness;
const atlasQueue = clusterQueueLock('atlas');
beforeAll(async () => {
  lab = await startLab('atlas');
  await atlasQueue.acquire();
  h = await startWorkflowHarness(lab, (inventory) => {
    inventory.policy.nodeReadyTimeout = 15_000;
  });
}, 900_000);
afterEach(async () => {
  await lab.clearFaults();
  await h.endQueue('atlas');
});
afterAll(async () => {
  await h?.endQueue('atlas');
  await atlasQueue.release();
  await h?.stop();
  await lab?.stop();
});

const request = (requestId: string, to = '1.11.4'): UpgradeRequest => ({
  requestId,
  cluster: 'atlas',
  talos: { to },
  source: 'test',
});
const cli = (...args: string[]) =>
  runCli(args, {
    env: { ...process.env, TEMPORAL_ADDRESS: testTemporalAddress() },
  });

/** Every node Ready, uncordoned, on `version`; no invariant broken since `since` (an ISO time). */
async function expectSettled(version: string, since: string): Promise<void> {
  const rows = await labStatus(lab);
  expect(rows.filter((row) => row.talos !== version || !row.ready || row.cordoned)).toEqual([]);
  expect((await labReport(lab)).violations.filter((v) => v.at >= since)).toEqual([]);
}

async function waitForEvent(mark: number, kind: string, node: string): Promise<void> {
  await eventually(
    `${kind} on ${node}`,
    async () => (await eventsSince(lab, mark)).some((e) => e.kind === kind && e.node === node),
    300_000,
  );
}

describe('operators and runs in flight (atlas)', () => {
  it('an undo refused by the quorum gate waits for an operator: abandon needs a reason, retry after the fix rolls back', async () => {
    await lab.addFault('not-ready-after-upgrade', { node: 'talos-cp-1' });
    const since = new Date().toISOString();
    const mark = await timelineMark(lab);
    const run = h.client.workflow.execute(clusterUpgrade, {
      taskQueue: h.taskQueue,
      workflowId: 'talos-upgrade:atlas:stuck-undo',
      args: [request('stuck-undo')],
    });
    const failed = run.then(
      () => undefined,
      (e: unknown) => e,
    );
    // Once talos-cp-1 is back on 1.11.4 (it will not turn Ready), talos-cp-2 breaks: quorum holds with
    // the two others, but taking talos-cp-1 down again to roll it back would lose it.
    await waitForEvent(mark, 'upgrade-finished', 'talos-cp-1');
    await lab.addFault('etcd-unhealthy', { node: 'talos-cp-2' });
    const node = h.client.workflow.getHandle('talos-upgrade:atlas:stuck-undo:node:talos-cp-1:1.11.4');
    let stuck: { undo: string; error: string } | undefined;
    await eventually(
      'the undo to be stuck',
      async () => {
        stuck = (await node.query(nodeProgressQuery)).stuck;
        return !!stuck;
      },
      300_000,
    );
    expect(stuck).toMatchObject({ undo: 'upgrade back', error: expect.stringMatching(/quorum/) });
    // Left as it is while it waits: up, on the new version, not taken down.
    expect((await labStatus(lab)).find((row) => row.node === 'talos-cp-1')).toMatchObject({
      talos: '1.11.4',
    });

    const noReason = await cli('undo', 'abandon', 'atlas');
    expect(noReason.exitCode).not.toBe(0);
    expect(noReason.stderr).toMatch(/reason/);
    // The run itself refuses it too (the Workflow Update's validator), whoever sends it.
    await expect(
      node.executeUpdate(undoUpdate, { args: [{ action: 'abandon', by: 'ops' }] }),
    ).rejects.toMatchObject({
      cause: { message: expect.stringMatching(/^abandoning an undo needs its reason/) },
    });

    await lab.clearFaults('etcd-unhealthy');
    const retried = await cli('undo', 'retry', 'atlas', '--by', 'ops');
    expect([retried.exitCode, retried.stdout]).toEqual([0, expect.stringMatching(/runs again/)]);

    const error = await failed;
    expect(error).toBeInstanceOf(WorkflowFailedError);
    const failure = (error as WorkflowFailedError).cause as ApplicationFailure;
    expect(failure.type).toBe('UpgradeFailed');
    expect(failure.details?.[0]).toMatchObject({ nodes: [{ node: 'talos-cp-1', outcome: 'rolled-back' }] });
    await lab.clearFaults();
    await expectSettled('1.11.3', since);
    // Failure, compensation, a stuck undo and an operator's retry: replay fixtures of both workflows.
    await recordHistory('talos-upgrade:atlas:stuck-undo', 'stuck-undo-cluster-atlas');
    await recordHistory(node.workflowId, 'stuck-undo-node-controller');
  }, 900_000);

  it('a cluster run terminated while a control plane upgrades: the node run is cancelled and undoes itself', async () => {
    const since = new Date().toISOString();
    const mark = await timelineMark(lab);
    const handle = await h.client.workflow.start(clusterUpgrade, {
      taskQueue: h.taskQueue,
      workflowId: 'talos-upgrade:atlas:terminated',
      args: [request('terminated')],
    });
    await waitForEvent(mark, 'upgrade-started', 'talos-cp-1');
    await handle.terminate('operator: stop everything');
    const node = h.client.workflow.getHandle('talos-upgrade:atlas:terminated:node:talos-cp-1:1.11.4');
    await eventually(
      'the node run to close',
      async () => (await node.describe()).status.name !== 'RUNNING',
      300_000,
    );
    expect((await node.describe()).status.name).toBe('CANCELLED');
    await expectSettled('1.11.3', since);
    // cancelled-node-controller.json is this run from before the orphan-notice patch: kept, it replays.
    await recordHistory(node.workflowId, 'orphaned-node-controller');
  }, 900_000);

  it('a queue terminated mid-run: the next queue of the cluster waits for the run it left behind', async () => {
    const since = new Date().toISOString();
    const mark = await timelineMark(lab);
    const first = await enqueueUpgrade(h.client, h.taskQueue, request('left-behind'));
    await waitForEvent(mark, 'cordoned', 'talos-cp-1');
    await h.endQueue('atlas');
    const second = await enqueueUpgrade(h.client, h.taskQueue, request('after-it'));
    const a = h.client.workflow.getHandle<typeof clusterUpgrade>(first.runId);
    const b = h.client.workflow.getHandle<typeof clusterUpgrade>(second.runId);
    expect((await a.result()).outcome).toBe('succeeded');
    await eventually(
      'the second run to start',
      () =>
        b.describe().then(
          () => true,
          () => false,
        ),
      60_000,
    );
    // The second run found every node done: it started only once the first had closed.
    expect((await b.result()).outcome).toBe('nothing-to-do');
    const [da, db] = [await a.describe(), await b.describe()];
    expect(da.closeTime && db.startTime && da.closeTime <= db.startTime).toBe(true);
    await expectSettled('1.11.4', since);
  }, 900_000);

  it('redeliveries across the queue continue-as-new are ignored; a request id never runs twice', async () => {
    const queue: WorkflowHandle<typeof upgradeQueue> = await h.client.workflow.signalWithStart(upgradeQueue, {
      taskQueue: h.taskQueue,
      workflowId: queueWorkflowId('atlas'),
      args: [{ cluster: 'atlas', pending: [], seen: [], done: 0, renewAfter: 1 }],
      signal: enqueueSignal,
      signalArgs: [request('renewed')],
    });
    const firstRunId = (await queue.describe()).runId;
    await eventually(
      'the queue to renew itself',
      async () =>
        (await h.client.workflow.getHandle(queueWorkflowId('atlas')).describe()).runId !== firstRunId,
      120_000,
    );
    const renewed = h.client.workflow.getHandle(queueWorkflowId('atlas'));
    await renewed.signal(enqueueSignal, request('renewed'));
    await renewed.signal(enqueueSignal, request('renewed-2'));
    await eventually(
      'the second request to run',
      async () => (await renewed.query(queueQuery)).done === 2,
      120_000,
    );
    const state = await renewed.query(queueQuery);
    expect(state.recent?.map((r) => [r.requestId, r.outcome])).toEqual([
      ['renewed', 'nothing-to-do'],
      ['renewed-2', 'nothing-to-do'],
    ]);
  }, 600_000);

  it('a cattle control plane cancelled while its new VM boots: the member it joins with is removed with the VM', async () => {
    // The new VM joins etcd 12 s after its reboot (a slow boot), so the undo's `etcd leave` finds no
    // member yet; a held Terraform state lock keeps the undo's destroy waiting until it has joined.
    // Left listed, that member would keep the VM recreated at the old version from starting etcd.
    const since = new Date().toISOString();
    const mark = await timelineMark(lab);
    await lab.addFault('join-delayed', { node: 'talos-cp-1', seconds: 12 });
    const handle = await h.client.workflow.start(clusterUpgrade, {
      taskQueue: h.taskQueue,
      workflowId: 'talos-upgrade:atlas:cancelled-while-booting',
      args: [{ ...request('cancelled-while-booting', '1.12.0'), strategy: 'cattle' }],
    });
    await waitForEvent(mark, 'config-applied', 'talos-cp-1');
    // The lab answers once its `terraform console` holds the state lock.
    await lab.addFault('terraform-lock', { seconds: 20 });
    await handle.cancel();
    expect((await handle.result()).outcome).toBe('cancelled');
    const events = (await eventsSince(lab, mark)).filter((e) => e.node === 'talos-cp-1');
    const kinds = events.map((e) => (e.kind === 'etcd-joined' ? `joined ${e.detail ?? ''}` : e.kind));
    const applied = kinds.indexOf('config-applied');
    const after = kinds.slice(applied);
    // No leave after the new config (its VM had not joined yet), its join, the destroy, then the removal.
    expect(after).not.toContain('etcd-left');
    const joined = after.findIndex((k) => k.startsWith('joined member'));
    const destroyed = after.indexOf('vm-destroyed');
    expect(joined).toBeGreaterThan(-1);
    expect(destroyed).toBeGreaterThan(joined);
    expect(after.indexOf('etcd-member-removed')).toBeGreaterThan(destroyed);
    expect(after.filter((k) => k.startsWith('joined old member'))).toEqual([]);
    expect(after.filter((k) => k === 'fault-added')).toEqual([]);
    await expectSettled('1.11.4', since);
    await recordHistory(
      'talos-upgrade:atlas:cancelled-while-booting:node:talos-cp-1:1.12.0',
      'cattle-undo-gone-member-node-controller',
    );
  }, 900_000);
});
