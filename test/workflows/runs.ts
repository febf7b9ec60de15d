import { expect } from '@jest/globals';
import { ApplicationFailure, WorkflowFailedError } from '@temporalio/client';
import { clusterUpgrade } from '../../src/workflows/index.js';
import type { ClusterUpgradeResult, UpgradeRequest } from '../../src/workflows/types.js';
import type { WorkflowHarness } from './workflowHarness.js';

export type TestRequest = Omit<UpgradeRequest, 'requestId' | 'cluster' | 'source'>;

/** Runs one cluster upgrade to its end; its workflow id is `talos-upgrade:<cluster>:<id>`. */
export function upgrade(
  h: WorkflowHarness,
  cluster: string,
  id: string,
  request: TestRequest,
): Promise<ClusterUpgradeResult> {
  return h.client.workflow.execute(clusterUpgrade, {
    taskQueue: h.taskQueue,
    workflowId: `talos-upgrade:${cluster}:${id}`,
    args: [{ requestId: id, cluster, source: 'test', ...request }],
    workflowExecutionTimeout: '30 minutes',
  });
}

/** Runs an upgrade that must fail with UpgradeFailed; returns its message and the result in its details. */
export async function failingUpgrade(
  h: WorkflowHarness,
  cluster: string,
  id: string,
  request: TestRequest,
): Promise<{ message: string; result: ClusterUpgradeResult }> {
  const error = await upgrade(h, cluster, id, request).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(WorkflowFailedError);
  const cause = (error as WorkflowFailedError).cause;
  expect(cause).toBeInstanceOf(ApplicationFailure);
  const failure = cause as ApplicationFailure;
  expect(failure.type).toBe('UpgradeFailed');
  return { message: failure.message, result: failure.details?.[0] as ClusterUpgradeResult };
}
