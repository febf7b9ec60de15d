import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { enqueueUpgrade } from '../../src/starter/enqueue.js';
import { queueQuery } from '../../src/workflows/signals.js';
import type { clusterUpgrade } from '../../src/workflows/index.js';
import type { UpgradeRequest } from '../../src/workflows/types.js';
import { clusterQueueLock } from '../harness/clusterQueueLock.js';
import { eventually, startLab, type Lab } from '../lab/labHarness.js';
import { labStatus } from './labViews.js';
import { startWorkflowHarness, type WorkflowHarness } from './workflowHarness.js';

let lab: Lab;
let h: WorkflowHarness;
const atlasQueue = clusterQueueLock('atlas');
beforeAll(async () => {
  lab = await startLab('atlas');
  await atlasQueue.acquire();
  h = await startWorkflowHarness(lab);
}, 900_000);
afterAll(async () => {
  await h?.endQueue('atlas');
  await atlasQueue.release();
  await h?.stop();
  await lab?.stop();
});

const request = (requestId: string, to: string): UpgradeRequest => ({
  requestId,
  cluster: 'atlas',
  talos: { to },
  source: 'test',
});

describe('upgradeQueue', () => {
  it('runs requests one at a time, in order, and ignores a redelivered request id', async () => {
    const first = await enqueueUpgrade(h.client, h.taskQueue, request('sha-aaa', '1.11.4'));
    await enqueueUpgrade(h.client, h.taskQueue, request('sha-aaa', '1.11.4'));
    const second = await enqueueUpgrade(h.client, h.taskQueue, request('sha-bbb', '1.11.5'));
    const queue = h.client.workflow.getHandle(first.queueId);
    const early = await queue.query(queueQuery);
    expect([early.running?.requestId, ...early.pending.map((r) => r.requestId)].filter(Boolean)).toEqual([
      'sha-aaa',
      'sha-bbb',
    ]);
    await eventually(
      'both upgrades to finish',
      async () => (await queue.query(queueQuery)).done === 2,
      600_000,
    );

    // The queue's own history says which runs it started: visibility is written after the fact and
    // lagged past 30 s on a loaded CI machine, so it cannot tell the count.
    const started = (await queue.fetchHistory()).events
      ?.map((e) => e.startChildWorkflowExecutionInitiatedEventAttributes)
      .filter((child) => child?.workflowType?.name === 'clusterUpgrade')
      .map((child) => child?.workflowId);
    expect(started).toEqual([first.runId, second.runId]);
    expect((await queue.query(queueQuery)).recent?.map((r) => r.requestId)).toEqual(['sha-aaa', 'sha-bbb']);
    const a = await h.client.workflow.getHandle(first.runId).describe();
    const b = await h.client.workflow.getHandle(second.runId).describe();
    expect(a.closeTime && b.startTime && a.closeTime <= b.startTime).toBe(true);
    const resultA = await h.client.workflow.getHandle<typeof clusterUpgrade>(first.runId).result();
    const resultB = await h.client.workflow.getHandle<typeof clusterUpgrade>(second.runId).result();
    expect([resultA.outcome, resultB.outcome]).toEqual(['succeeded', 'succeeded']);
    expect((await labStatus(lab)).every((row) => row.talos === '1.11.5' && !row.cordoned)).toBe(true);
  }, 900_000);
});
