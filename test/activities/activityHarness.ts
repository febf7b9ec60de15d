import { fileURLToPath } from 'node:url';
import { ActivityFailure, ApplicationFailure, WorkflowFailedError } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../../src/activities/index.js';
import type { Inventory } from '../../src/domain/index.js';
import { heartbeatThrottle } from '../../src/worker/heartbeatThrottle.js';
import { runActivity, type RunActivityOptions } from '../fixtures/activityWorkflows.js';
import { labActivityDeps, labInventory } from '../harness/labDeps.js';
import { connectToTestServer, uniqueTaskQueue } from '../harness/temporalEnv.js';
import type { Lab } from '../lab/labHarness.js';

export const CLUSTER = 'prox-ops';

export interface ActivityHarness {
  deps: ActivityDeps;
  inventory: Inventory;
  secrets: NodeJS.ProcessEnv;
  call<T>(name: Parameters<typeof runActivity>[0], input: unknown, options?: RunActivityOptions): Promise<T>;
  /** Starts an activity without waiting: to cancel it from outside, as the Web UI would. */
  begin(
    name: Parameters<typeof runActivity>[0],
    input: unknown,
    options?: RunActivityOptions,
  ): { cancel(): Promise<void>; outcome: Promise<unknown> };
  /** Like call, with the id of the workflow that ran it (to read its history). */
  run<T>(
    name: Parameters<typeof runActivity>[0],
    input: unknown,
    options?: RunActivityOptions,
  ): Promise<{ workflowId: string; result: T }>;
  /** The failure an activity ended with: its type, whether it may be retried, its message. */
  failure(
    name: Parameters<typeof runActivity>[0],
    input: unknown,
    options?: RunActivityOptions,
  ): Promise<{ type: string; nonRetryable: boolean; message: string; workflowId: string }>;
  history(workflowId: string): Promise<Array<{ attempt?: number | null }>>;
  stop(): Promise<void>;
}

/** A real worker on the run's dev server, with the real activities bound to a lab. */
export async function startActivityHarness(lab: Lab): Promise<ActivityHarness> {
  const { inventory, inventoryFile } = await labInventory(lab);
  if (inventory.cluster.name !== CLUSTER) throw new Error(`the activity tests need the ${CLUSTER} lab`);
  const secrets: NodeJS.ProcessEnv = {};
  const deps: ActivityDeps = {
    ...labActivityDeps(lab, inventory, inventoryFile, secrets),
    // The batching test's creates come a client round trip after their destroys, on a loaded machine.
    terraformFollowUpMs: 5000,
  };
  const env = await connectToTestServer();
  const taskQueue = uniqueTaskQueue('activities');
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowsPath: fileURLToPath(new URL('../fixtures/activityWorkflows.ts', import.meta.url)),
    activities: createActivities(deps),
    ...heartbeatThrottle,
  });
  const running = worker.run();
  let counter = 0;
  const start = (name: string, input: unknown, options: RunActivityOptions = {}) => {
    const workflowId = `activity-${name}-${taskQueue}-${++counter}`;
    return {
      workflowId,
      promise: env.client.workflow.execute(runActivity, {
        taskQueue,
        workflowId,
        args: [name as Parameters<typeof runActivity>[0], [input], options],
      }),
    };
  };
  return {
    deps,
    inventory,
    secrets,
    call: async <T>(name: Parameters<typeof runActivity>[0], input: unknown, options?: RunActivityOptions) =>
      (await start(name, input, options).promise) as T,
    begin: (name, input, options) => {
      const { workflowId, promise } = start(name, input, options);
      return {
        cancel: async () => void (await env.client.workflow.getHandle(workflowId).cancel()),
        outcome: promise.then(
          () => 'completed',
          (error: unknown) => error,
        ),
      };
    },
    run: async <T>(name: Parameters<typeof runActivity>[0], input: unknown, options?: RunActivityOptions) => {
      const { workflowId, promise } = start(name, input, options);
      return { workflowId, result: (await promise) as T };
    },
    failure: async (name, input, options) => {
      const { workflowId, promise } = start(name, input, options);
      try {
        await promise;
      } catch (error) {
        const cause = error instanceof WorkflowFailedError ? error.cause : undefined;
        const app = cause instanceof ActivityFailure ? cause.cause : undefined;
        if (app instanceof ApplicationFailure) {
          return {
            type: app.type ?? '',
            nonRetryable: app.nonRetryable === true,
            message: app.message,
            workflowId,
          };
        }
        throw error;
      }
      throw new Error(`${name} succeeded, but a failure was expected`);
    },
    history: async (workflowId) => {
      const history = await env.client.workflow.getHandle(workflowId).fetchHistory();
      return (history.events ?? [])
        .filter((e) => e.activityTaskStartedEventAttributes)
        .map((e) => ({ attempt: e.activityTaskStartedEventAttributes?.attempt }));
    },
    stop: async () => {
      worker.shutdown();
      await running;
      await env.close();
    },
  };
}
