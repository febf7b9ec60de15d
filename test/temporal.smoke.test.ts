import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Worker } from '@temporalio/worker';
import * as activities from './fixtures/smokeActivities.js';
import { smokeWorkflow } from './fixtures/smokeWorkflows.js';
import { connectToTestServer, uniqueTaskQueue } from './harness/temporalEnv.js';

describe('the real Temporal dev server started by the harness', () => {
  let env: Awaited<ReturnType<typeof connectToTestServer>>;
  beforeAll(async () => {
    env = await connectToTestServer();
  });
  afterAll(async () => env.close());

  it('has the custom search attributes registered', async () => {
    const { customAttributes } = await env.client.connection.operatorService.listSearchAttributes({
      namespace: 'default',
    });
    for (const name of [
      'TalosCluster',
      'TalosFromVersion',
      'TalosToVersion',
      'UpgradeStrategy',
      'UpgradePhase',
      'NodeName',
    ]) {
      expect(customAttributes?.[name]).toBeDefined();
    }
  });

  it('runs a worker, a workflow and an activity', async () => {
    const taskQueue = uniqueTaskQueue('smoke');
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowsPath: fileURLToPath(new URL('./fixtures/smokeWorkflows.ts', import.meta.url)),
      activities,
    });
    const workflowId = `smoke-${taskQueue}`;
    const result = await worker.runUntil(
      env.client.workflow.execute(smokeWorkflow, { taskQueue, workflowId, args: ['k8s-work-1'] }),
    );
    expect(result).toBe(`k8s-work-1 seen by activity of workflow ${workflowId}`);

    const description = await env.client.workflow.getHandle(workflowId).describe();
    expect(description.status.name).toBe('COMPLETED');
    expect(description.searchAttributes.NodeName).toEqual(['k8s-work-1']);
  });
});
