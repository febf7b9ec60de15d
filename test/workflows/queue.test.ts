import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { enqueueUpgrade } from '../../src/starter/enqueue.js';
import { queueQuery } from '../../src/workflows/signals.js';
import type { clusterUpgrade } from '../../src/workflows/index.js';
import type { UpgradeRequest } from '../../src/workflows/types.js';
import { clusterQueueLock } from '../harness/clusterQueueLock.js';
import { eventually, startLab, type Lab } from '../lab/labHarness.js';
import { labStatus } from './labViews.js';
import { temporalCli } from '../harness/temporalEnv.js';
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

  it('a malformed enqueue ends as InvalidRequest and the queue goes on; an older merge after a newer one installs nothing', async () => {
    // The first test left every node on 1.11.5. Sent as an operator would with the real temporal CLI.
    const sent = await temporalCli(
      'workflow',
      'signal',
      '--workflow-id',
      'talos-upgrade-queue:atlas',
      '--name',
      'enqueue',
      '--input',
      JSON.stringify({
        requestId: 'typo-1',
        cluster: 'atlas',
        talos: { to: '1.12' },
        source: 'temporal CLI',
      }),
    );
    expect(sent).toMatchObject({ exitCode: 0 });
    // A merge from 1.11.3 to 1.11.4 delivered after the cluster reached 1.11.5 (a replay, a stale base).
    const stale = await enqueueUpgrade(h.client, h.taskQueue, {
      ...request('sha-old', '1.11.4'),
      talos: { from: '1.11.3', to: '1.11.4' },
    });
    const queue = h.client.workflow.getHandle(stale.queueId);
    await eventually(
      'the stale merge to end',
      async () => (await queue.query(queueQuery)).done === 3,
      300_000,
    );
    const recent = (await queue.query(queueQuery)).recent ?? [];
    expect(recent.slice(-2)).toEqual([
      {
        requestId: 'typo-1',
        outcome: expect.stringMatching(/^InvalidRequest: talos\.to: .*"1\.12" is not a version/),
      },
      { requestId: 'sha-old', outcome: 'nothing-to-do' },
    ]);
    const result = await h.client.workflow.getHandle<typeof clusterUpgrade>(stale.runId).result();
    expect(result).toMatchObject({ outcome: 'nothing-to-do', hops: [], nodes: [] });
    expect(result.reason).toMatch(
      /every node runs Talos 1\.11\.5 .*not older than the requested 1\.11\.4: nothing older is ever installed/,
    );
    expect((await labStatus(lab)).every((row) => row.talos === '1.11.5' && !row.cordoned)).toBe(true);
  }, 600_000);
});
