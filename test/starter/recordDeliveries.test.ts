import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { defaultPayloadConverter } from '@temporalio/common';
import { queueWorkflowId, recordDeliveries } from '../../src/starter/enqueue.js';
import type { DeliveredMerge } from '../../src/workflows/types.js';
import { connectToTestServer, uniqueTaskQueue } from '../harness/temporalEnv.js';

// No worker polls this task queue: what is checked is what reaches the queue's history.
let env: Awaited<ReturnType<typeof connectToTestServer>>;
const taskQueue = uniqueTaskQueue('record');
const cluster = `record-${Date.now().toString(36)}`;
const queue = () => env.client.workflow.getHandle(queueWorkflowId(cluster));

const merge = (after: string): DeliveredMerge => ({
  requestId: after,
  cluster,
  delivery: { repository: 'homelab/prox-ops', before: `${after}-base`, after, event: 'pull_request' },
  source: `pull request #1 in homelab/prox-ops (${after})`,
});

/** The merges each `deliver` signal of one run of the queue carried, in order. */
async function deliveredIn(runId: string): Promise<string[][]> {
  const history = await env.client.workflow.getHandle(queueWorkflowId(cluster), runId).fetchHistory();
  return (history.events ?? [])
    .map((event) => event.workflowExecutionSignaledEventAttributes)
    .filter((signal) => signal?.signalName === 'deliver')
    .map((signal) => {
      const [merges] = (signal?.input?.payloads ?? []).map((p) =>
        defaultPayloadConverter.fromPayload<DeliveredMerge[]>(p),
      );
      return (merges ?? []).map((m) => m.requestId);
    });
}

beforeAll(async () => {
  env = await connectToTestServer();
});

afterAll(async () => {
  await queue()
    .terminate('test over')
    .catch(() => undefined);
  await env?.close();
});

describe('recordDeliveries: a signal to the running queue, signal-with-start when there is none', () => {
  it('starts the queue with the first merges, signals the same run after, and starts a new run once it was terminated', async () => {
    await recordDeliveries(env.client, taskQueue, cluster, [merge('aaa'), merge('bbb')]);
    const first = await queue().describe();
    expect(first.status.name).toBe('RUNNING');
    expect(first.searchAttributes.TalosCluster).toEqual([cluster]);

    await recordDeliveries(env.client, taskQueue, cluster, [merge('ccc')]);
    const same = await queue().describe();
    expect(same.runId).toBe(first.runId);
    expect(await deliveredIn(first.runId)).toEqual([['aaa', 'bbb'], ['ccc']]);

    // An operator terminated the queue (or it ended): the next merge must not be lost with it.
    await queue().terminate('operator ended the queue');
    await recordDeliveries(env.client, taskQueue, cluster, [merge('ddd')]);
    const next = await queue().describe();
    expect(next.runId).not.toBe(first.runId);
    expect(next.status.name).toBe('RUNNING');
    expect(await deliveredIn(next.runId)).toEqual([['ddd']]);
  });
});
