import { describe, expect, it } from '@jest/globals';
import { clusterUpgrade } from '../../src/workflows/index.js';
import { approveUpdate, progressQuery, rejectUpdate } from '../../src/workflows/signals.js';
import { eventually } from '../lab/labHarness.js';
import { eventsSince, labStatus, timelineMark } from './labViews.js';
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

async function holding(handle: Run) {
  return eventually('the run to hold after its canary', async () => {
    const progress = await handle.query(progressQuery).catch(() => undefined);
    return progress?.canary?.state === 'holding' ? progress : undefined;
  });
}

/** The nodes whose upgrade started since `mark`, in order. */
async function upgradedSince(mark: number) {
  return (await eventsSince(suite.lab, mark)).filter((e) => e.kind === 'upgrade-started').map((e) => e.node);
}

const workers = async () =>
  (await labStatus(suite.lab)).filter((r) => r.role === 'worker').map((r) => r.node);

describe('policy.canary: one worker first, then a hold', () => {
  it('the hold passes by itself: the canary went before every controller', async () => {
    suite.h.inventory.policy.canary = { hold: 3_000 };
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
    suite.h.inventory.policy.canary = { hold: 3_600_000 };
    const mark = await timelineMark(suite.lab);
    const handle = await startPatch('canary-approve-test', '1.11.5');
    const held = await holding(handle);
    expect(held.phase).toBe('CanaryHold');
    // Only the canary moved while the run holds.
    expect(await upgradedSince(mark)).toEqual([held.canary?.node]);
    const state = await handle.executeUpdate(approveUpdate, { args: [{ by: 'alice' }] });
    expect(state).toBeDefined();
    const result = await handle.result();
    expect(result.outcome).toBe('succeeded');
    expect((await handle.query(progressQuery)).canary).toEqual({
      node: held.canary?.node,
      state: 'approved',
      by: 'alice',
    });
    expect((await labStatus(suite.lab)).every((row) => row.talos === '1.11.5')).toBe(true);
  }, 600_000);

  it('reject during the hold stops the run: the canary stays upgraded, no other node is touched', async () => {
    suite.h.inventory.policy.canary = { hold: 3_600_000 };
    const mark = await timelineMark(suite.lab);
    const handle = await startPatch('canary-reject-test', '1.12.0');
    const held = await holding(handle);
    // A second answer is refused with the reason; the first counts.
    await handle.executeUpdate(rejectUpdate, { args: [{ by: 'bob', reason: 'the canary logs errors' }] });
    await expect(handle.executeUpdate(approveUpdate, { args: [{ by: 'alice' }] })).rejects.toThrow();
    const result = await handle.result();
    expect(result.outcome).toBe('rejected');
    expect(result.reason).toMatch(
      /rejected after the canary .* by bob: the canary logs errors; no other node/,
    );
    const canary = held.canary?.node;
    expect(
      (await eventsSince(suite.lab, mark)).filter((e) => e.kind === 'cordoned').map((e) => e.node),
    ).toEqual([canary]);
    for (const row of await labStatus(suite.lab)) {
      expect([row.node, row.talos]).toEqual([row.node, row.node === canary ? '1.12.0' : '1.11.5']);
      expect(row.cordoned).toBe(false);
    }
  }, 600_000);
});
