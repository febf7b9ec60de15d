import { afterAll, beforeAll } from '@jest/globals';
import { Worker } from '@temporalio/worker';
import type { Client } from '@temporalio/client';
import { createActivities, type ActivityDeps } from '../../src/activities/index.js';
import type { Inventory } from '../../src/domain/index.js';
import { queueWorkflowId } from '../../src/starter/enqueue.js';
import { workflowBundle } from '../../src/worker/workflowBundle.js';
import { heartbeatThrottle } from '../../src/worker/heartbeatThrottle.js';
import { withFastWaits } from '../harness/fastPolicy.js';
import { labActivityDeps, labInventory } from '../harness/labDeps.js';
import { connectToTestServer, uniqueTaskQueue } from '../harness/temporalEnv.js';
import { startLab, type Lab } from '../lab/labHarness.js';

export interface WorkflowHarness {
  client: Client;
  taskQueue: string;
  inventory: Inventory;
  /** What the worker's activities run with, for a test that calls one activity directly. */
  deps: ActivityDeps;
  /** Terminates the cluster's upgrade queue a test started (queues run until told otherwise). */
  endQueue(cluster: string): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A real worker running the product's workflows and activities against a lab, with the lab's waits
 * shortened (FAST_WAITS).
 */
export async function startWorkflowHarness(
  lab: Lab,
  tune: (inventory: Inventory) => void = () => {},
  /** More of what the activities get (the webhook test's repository source). */
  extraDeps: Partial<ActivityDeps> = {},
): Promise<WorkflowHarness> {
  const { inventory, inventoryFile } = await labInventory(lab);
  withFastWaits(inventory);
  tune(inventory);
  const deps: ActivityDeps = { ...labActivityDeps(lab, inventory, inventoryFile), ...extraDeps };
  const env = await connectToTestServer();
  const taskQueue = uniqueTaskQueue('workflows');
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    ...(await workflowBundle()),
    activities: createActivities(deps),
    maxConcurrentActivityTaskExecutions: 20,
    ...heartbeatThrottle,
  });
  const running = worker.run();
  return {
    client: env.client,
    taskQueue,
    inventory,
    deps,
    endQueue: async (cluster) => {
      await env.client.workflow
        .getHandle(queueWorkflowId(cluster))
        .terminate('test over')
        .catch(() => undefined);
    },
    stop: async () => {
      worker.shutdown();
      await running;
      await env.close();
    },
  };
}

/**
 * The usual suite: one lab of `preset` and one worker on it, started before the suite's tests and
 * stopped after them. Read `suite.lab` and `suite.h` inside tests (they are set in beforeAll).
 */
export function labWithWorker(
  preset: string,
  tune?: (inventory: Inventory) => void,
): { readonly lab: Lab; readonly h: WorkflowHarness } {
  const suite = {} as { lab: Lab; h: WorkflowHarness };
  beforeAll(async () => {
    suite.lab = await startLab(preset);
    suite.h = await startWorkflowHarness(suite.lab, tune);
  }, 900_000);
  afterAll(async () => {
    await suite.h?.stop();
    await suite.lab?.stop();
  });
  return suite;
}
