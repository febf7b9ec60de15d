import { fileURLToPath } from 'node:url';
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createActivities } from '../activities/index.js';
import { connectionOptions, describeConnectionFailure } from '../starter/temporalConnection.js';
import { activityDeps, type WorkerConfig } from './config.js';
import { createLogger } from '../starter/logger.js';
import { temporalLogger } from './logging.js';
import { secretReader } from './secrets.js';

const WORKFLOWS = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

/**
 * Runs the worker until SIGINT or SIGTERM: installs the runtime (structured logs, Prometheus
 * metrics), connects, registers the workflows and the activities of the configured clusters. On a
 * signal it stops taking tasks and gives running activities the grace time to finish; whatever is
 * cut short is retried by Temporal on the next worker, which the activities are written to survive.
 */
export async function runWorker(config: WorkerConfig): Promise<void> {
  const logger = createLogger('talos-upgrade-worker', config.logLevel);
  Runtime.install({
    logger: temporalLogger(logger),
    telemetryOptions: config.metricsAddress
      ? { metrics: { prometheus: { bindAddress: config.metricsAddress } } }
      : {},
    shutdownSignals: ['SIGINT', 'SIGTERM'],
  });
  const { temporal } = config;
  let connection: NativeConnection;
  try {
    connection = await NativeConnection.connect(connectionOptions(temporal));
  } catch (error) {
    throw new Error(describeConnectionFailure(temporal, error), { cause: error });
  }
  try {
    const worker = await Worker.create({
      connection,
      namespace: temporal.namespace,
      taskQueue: temporal.taskQueue,
      workflowsPath: WORKFLOWS,
      activities: createActivities(activityDeps(config, secretReader())),
      shutdownGraceTime: '30s',
      maxConcurrentActivityTaskExecutions: config.maxConcurrentActivities,
    });
    logger.info(
      {
        address: temporal.address,
        namespace: temporal.namespace,
        taskQueue: temporal.taskQueue,
        clusters: Object.keys(config.clusters),
        metrics: config.metricsAddress ? `http://${config.metricsAddress}/metrics` : 'off',
        pid: process.pid,
      },
      'worker ready',
    );
    await worker.run();
    logger.info('worker stopped');
  } finally {
    await connection.close();
  }
}
