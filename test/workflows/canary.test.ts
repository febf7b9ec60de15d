import { describe, expect, it } from '@jest/globals';
import { clusterUpgrade } from '../../src/workflows/index.js';
import { PENDING_TAINT } from '../../src/domain/index.js';
import { approveUpdate, progressQuery, rejectSignal, rejectUpdate } from '../../src/workflows/signals.js';
import { eventually } from '../lab/labHarness.js';
import { eventsSince, labStatus, notificationsOf, timelineMark, TOUCHING } from './labViews.js';
import { labWithWorker } from './workflowHarness.js';

// atlas (3 controllers, 2 workers), patch runs in place: the trial worker goes before any controller.
const suite = labWithWorker('atlas');

function startPatch(id: string, to: string) {
  return suite.h.client.workflow.start(clusterUpgrade, {
    taskQueue: suite.h.taskQueue,
    workflowId: `talos-upgrade:atlas:${id}`,
    args: [{ requestId: id, cluster: 'atlas', talos: { to }, source: 'test' }],
  });
}

type Run = Awaited<ReturnType<typeof startPatch>>;

async function canaryIs(handle: Run, state: 'upgrading' | 'holding') {
  // A cattle canary is a VM rebuilt: in the full run, beside the other suites, well past 30 s.
  return eventually(
    `the run's canary to be ${state}`,
    async () => {
      const progress = await handle.query(progressQuery).catch(() => undefined);
      return progress?.canary?.state === state ? progress : undefined;
    },
    300_000,
  );
}
const holding = (handle: Run) => canaryIs(handle, 'holding');

/** The nodes that carry the run's pending mark now. */
const markedPending = async () =>
  (await suite.lab.core.listNode()).items
    .filter((n) => n.spec?.taints?.some((t) => t.key === PENDING_TAINT.key))
    .map((n) => n.metadata?.name);

/** The kinds of the notifications a run sent. */
const notified = async (handle: Run) => (await notificationsOf(handle)).map((n) => n.kind);

/** The nodes whose upgrade started since `mark`, in order. */
async function upgradedSince(mark: number) {
  return (await eventsSince(suite.lab, mark)).filter((e) => e.kind === 'upgrade-started').map((e) => e.node);
}

const workers = async () =>
  (await labStatus(suite.lab)).filter((r) => r.role === 'worker').map((r) => r.node);

describe('policy.canary: one worker first, then a hold', () => {
  it('the hold passes by itself: the canary went before every controller', async () => {
    suite.h.inventory.policy.canary = { hold: 3_000, after: 'worker' };
    const mark = await timelineMark(suite.lab);
    const handle = await startPatch('canary-timer-test', '1.11.4');
    const result = await handle.result();
    expect(result.outcome).toBe('succeeded');
    const order = await upgradedSince(mark);
    expect(order).toHaveLength(5);
    expect(await workers()).toContain(order[0]);
    expect((await handle.query(progressQuery)).canary).toEqual({ node: order[0], state: 'held' });
    expect((await labStatus(suite.lab)).every((row) => row.talos === '1.11.4')).toBe(true);
  }, 600_000);

  it('approve during the hold goes on at once; the run says who let it', async () => {
    suite.h.inventory.policy.canary = { hold: 3_600_000, after: 'worker' };
    const mark = await timelineMark(suite.lab);
    const handle = await startPatch('canary-approve-test', '1.11.5');
    const held = await holding(handle);
    expect(held.phase).toBe('CanaryHold');
    // Only the canary moved while the run holds.
    expect(await upgradedSince(mark)).toEqual([held.canary?.node]);
    // For the hold the other nodes carry no pending mark (it would steer every new pod to the canary).
    expect(await markedPending()).toEqual([]);
    const state = await handle.executeUpdate(approveUpdate, { args: [{ by: 'alice' }] });
    expect(state).toMatchObject({
      phase: 'CanaryHold',
      canary: { node: held.canary?.node, state: 'holding' },
    });
    // A second answer is refused with the reason; the first counts. Asked here, not after a reject: after an
    // approval the run goes on for minutes, while a reject closes it at once and the second update would race
    // the close ("aborted by closing workflow").
    await expect(
      handle.executeUpdate(rejectUpdate, { args: [{ by: 'bob', reason: 'too late' }] }),
    ).rejects.toMatchObject({ cause: { message: 'the canary is already answered by alice' } });
    const result = await handle.result();
    expect(result.outcome).toBe('succeeded');
    expect((await handle.query(progressQuery)).canary).toEqual({
      node: held.canary?.node,
      state: 'approved',
      by: 'alice',
    });
    expect((await labStatus(suite.lab)).every((row) => row.talos === '1.11.5')).toBe(true);
  }, 600_000);

  it('reject sent as a signal while the canary upgrades: no hold, the run stops once the canary is done', async () => {
    suite.h.inventory.policy.canary = { hold: 3_600_000, after: 'worker' };
    const mark = await timelineMark(suite.lab);
    // A minor: the canary is rebuilt (cattle).
    const handle = await startPatch('canary-early-reject-test', '1.12.0');
    const upgrading = await canaryIs(handle, 'upgrading');
    await handle.signal(rejectSignal, { by: 'carol', reason: 'seen enough' });
    const result = await handle.result();
    expect(result.outcome).toBe('rejected');
    expect(result.reason).toContain('by carol: seen enough');
    const cordoned = (await eventsSince(suite.lab, mark)).filter((e) => e.kind === 'cordoned');
    expect(cordoned.map((e) => e.node)).toEqual([upgrading.canary?.node]);
    expect((await handle.query(progressQuery)).canary).toEqual({
      node: upgrading.canary?.node,
      state: 'rejected',
      by: 'carol',
    });
    // Nobody was asked for an answer already given.
    expect(await notified(handle)).not.toContain('canary');
    expect(await markedPending()).toEqual([]);
  }, 600_000);

  it('reject during the hold stops the run: the canary stays upgraded, no other node is touched', async () => {
    suite.h.inventory.policy.canary = { hold: 3_600_000, after: 'worker' };
    const mark = await timelineMark(suite.lab);
    // The merge again: the last canary already runs it, so the other worker is this run's canary.
    const before = await labStatus(suite.lab);
    const handle = await startPatch('canary-reject-test', '1.12.0');
    const held = await holding(handle);
    await handle.executeUpdate(rejectUpdate, { args: [{ by: 'bob', reason: 'the canary logs errors' }] });
    const result = await handle.result();
    expect(result.outcome).toBe('rejected');
    expect(result.reason).toMatch(
      /rejected after the canary .* by bob: the canary logs errors; no other node/,
    );
    const canary = held.canary?.node;
    expect(
      (await eventsSince(suite.lab, mark)).filter((e) => e.kind === 'cordoned').map((e) => e.node),
    ).toEqual([canary]);
    expect(before.find((row) => row.node === canary)?.talos).toBe('1.11.5');
    for (const row of await labStatus(suite.lab)) {
      expect([row.node, row.talos]).toEqual([row.node, row.role === 'worker' ? '1.12.0' : '1.11.5']);
      expect(row.cordoned).toBe(false);
    }
  }, 600_000);

  it('a cancel during the hold ends the trial as cancelled, with the canary upgraded and no mark left', async () => {
    suite.h.inventory.policy.canary = { hold: 3_600_000, after: 'worker' };
    const handle = await startPatch('canary-cancel-test', '1.12.1');
    const held = await holding(handle);
    expect(await notified(handle)).toContain('canary');
    await handle.cancel();
    const result = await handle.result();
    expect(result.outcome).toBe('cancelled');
    expect((await handle.query(progressQuery)).canary).toEqual({
      node: held.canary?.node,
      state: 'cancelled',
    });
    expect(await markedPending()).toEqual([]);
    const canaryRow = (await labStatus(suite.lab)).find((row) => row.node === held.canary?.node);
    expect(canaryRow).toMatchObject({ role: 'worker', talos: '1.12.1', cordoned: false });
  }, 600_000);
});

describe('policy.canary after: controller — the first controller is the trial', () => {
  it('holds after one controller, before any other node; reject stops it there', async () => {
    suite.h.inventory.policy.canary = { hold: 3_600_000, after: 'controller' };
    const mark = await timelineMark(suite.lab);
    const before = await labStatus(suite.lab);
    const handle = await startPatch('canary-controller-test', '1.12.5');
    const held = await holding(handle);
    const canary = held.canary?.node;
    expect(before.find((row) => row.node === canary)?.role).toBe('controlplane');
    const state = await handle.executeUpdate(rejectUpdate, { args: [{ by: 'dave' }] });
    expect(state.canary).toEqual({ node: canary, state: 'holding' });
    expect((await handle.result()).outcome).toBe('rejected');
    const touched = (await eventsSince(suite.lab, mark))
      .filter((e) => TOUCHING.has(e.kind) && e.node)
      .map((e) => e.node);
    expect(new Set(touched)).toEqual(new Set([canary]));
    for (const row of await labStatus(suite.lab)) {
      const was = before.find((b) => b.node === row.node)?.talos;
      expect([row.node, row.talos]).toEqual([row.node, row.node === canary ? '1.12.5' : was]);
    }
  }, 600_000);
});

describe('start --nodes: a trial by hand on the nodes named', () => {
  it('upgrades only the named controller, behind the quorum gate of all three; a name not in the inventory is refused', async () => {
    delete suite.h.inventory.policy.canary;
    const refused = suite.h.client.workflow.start(clusterUpgrade, {
      taskQueue: suite.h.taskQueue,
      workflowId: 'talos-upgrade:atlas:nodes-unknown-test',
      args: [
        {
          requestId: 'nodes-unknown-test',
          cluster: 'atlas',
          talos: { to: '1.12.1' },
          nodes: ['talos-cp-9'],
          source: 'test',
        },
      ],
    });
    await expect((await refused).result()).rejects.toMatchObject({
      cause: { message: expect.stringContaining('--nodes names talos-cp-9, not in the inventory of atlas') },
    });

    const before = await labStatus(suite.lab);
    const mark = await timelineMark(suite.lab);
    const handle = await suite.h.client.workflow.start(clusterUpgrade, {
      taskQueue: suite.h.taskQueue,
      workflowId: 'talos-upgrade:atlas:nodes-test',
      args: [
        {
          requestId: 'nodes-test',
          cluster: 'atlas',
          talos: { to: '1.12.1' },
          nodes: ['talos-cp-2'],
          source: 'test',
        },
      ],
    });
    const result = await handle.result();
    expect(result.outcome).toBe('succeeded');
    expect(result.nodes.map((n) => [n.node, n.outcome])).toEqual([['talos-cp-2', 'upgraded']]);
    expect(result.planNote).toContain('only talos-cp-2 (start --nodes)');
    const touched = new Set(
      (await eventsSince(suite.lab, mark)).filter((e) => TOUCHING.has(e.kind) && e.node).map((e) => e.node),
    );
    expect([...touched]).toEqual(['talos-cp-2']);
    for (const row of await labStatus(suite.lab)) {
      const was = before.find((b) => b.node === row.node)?.talos;
      expect([row.node, row.talos]).toEqual([row.node, row.node === 'talos-cp-2' ? '1.12.1' : was]);
    }
  }, 600_000);
});
