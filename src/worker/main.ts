import { Client } from '@temporalio/client';
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createActivities } from '../activities/index.js';
import { sweepPlainMachineConfigs } from '../activities/machineConfigFile.js';
import { connectionOptions, describeConnectionFailure } from '../starter/temporalConnection.js';
import { activityDeps, type WorkerConfig } from './config.js';
import { createLogger } from '../starter/logger.js';
import { temporalLogger } from './logging.js';
import { startRunGauges, zeroRunCounters } from './runMetrics.js';
import { workflowBundle } from './workflowBundle.js';
import { heartbeatThrottle } from './heartbeatThrottle.js';
import { ensurePollSchedules, pollScheduleId } from './pollSchedules.js';
import { secretReader } from './secrets.js';
import { workflowTaskSlots } from './taskSlots.js';
import { SHUTDOWN_GRACE_MS } from './shutdown.js';

/**
 * Runs the worker until SIGINT or SIGTERM: installs the runtime (structured logs, Prometheus
 * metrics), connects, registers the workflows and the activities of the configured clusters. On a
 * signal it stops taking tasks and gives running activities the grace time to finish; whatever is
 * cut short is retried by Temporal on the next worker, which the activities are written to survive.
 */
export async function runWorker(config: WorkerConfig): Promise<void> {
  const logger = createLogger('talos-upgrade-worker', config.logLevel);
  const runtime = Runtime.install({
    logger: temporalLogger(logger),
    telemetryOptions: {
      // The SDK core's own warnings (e.g. "Workflow task duration exceeded 5 seconds" on a loaded
      // machine) go through the same logger: printed by the core, they were the one unstructured line
      // in the worker's output (worker.test.ts, a cold clean-clone run on 2026-11-26).
      logging: { filter: { core: 'WARN', other: 'ERROR' }, forward: {} },
      ...(config.metricsAddress ? { metrics: { prometheus: { bindAddress: config.metricsAddress } } } : {}),
    },
    shutdownSignals: ['SIGINT', 'SIGTERM'],
  });
  const { temporal } = config;
  const swept = await sweepPlainMachineConfigs();
  if (swept > 0) logger.warn({ swept }, 'removed decrypted machine configs a killed worker left behind');
  let connection: NativeConnection;
  try {
    connection = await NativeConnection.connect(connectionOptions(temporal));
  } catch (error) {
    throw new Error(describeConnectionFailure(temporal, error), { cause: error });
  }
  try {
    const taskSlots = workflowTaskSlots(config);
    const worker = await Worker.create({
      connection,
      namespace: temporal.namespace,
      taskQueue: temporal.taskQueue,
      ...(await workflowBundle()),
      activities: createActivities(activityDeps(config, secretReader())),
      shutdownGraceTime: SHUTDOWN_GRACE_MS,
      ...heartbeatThrottle,
      maxConcurrentActivityTaskExecutions: config.maxConcurrentActivities,
      // The quick steps and the health gates run as local activities, in a pool of their own: at least
      // the SDK's default of 100, and as many as remote activities when a fleet raises that.
      maxConcurrentLocalActivityExecutions: Math.max(100, config.maxConcurrentActivities),
      maxConcurrentWorkflowTaskExecutions: taskSlots,
      ...(config.maxCachedWorkflows ? { maxCachedWorkflows: config.maxCachedWorkflows } : {}),
    });
    const polls = await ensurePollSchedules(
      new Client({ connection, namespace: temporal.namespace }),
      config.clusters,
      temporal.taskQueue,
    );
    for (const [cluster, change] of Object.entries(polls))
      if (change === 'foreign')
        logger.warn(
          `the poll Schedule ${pollScheduleId(cluster)} belongs to another task queue and is left as it is; if this worker should poll for ${cluster}, delete it (temporal schedule delete --schedule-id ${pollScheduleId(cluster)}) and restart this worker`,
        );
    logger.info(
      {
        address: temporal.address,
        namespace: temporal.namespace,
        taskQueue: temporal.taskQueue,
        clusters: Object.keys(config.clusters),
        // A fleet's tuning as the SDK applies it: the cache (set, or the SDK's from the heap limit)
        // also caps the workflow tasks at once.
        workflowTasks: Math.min(taskSlots, worker.options.maxCachedWorkflows),
        activities: config.maxConcurrentActivities,
        cachedWorkflows: worker.options.maxCachedWorkflows,
        repositories: config.repositorySource.describe,
        // repository.poll: each cluster's poll Schedule as this start left it.
        polls,
        metrics: config.metricsAddress ? `http://${config.metricsAddress}/metrics` : 'off',
        pid: process.pid,
      },
      'worker ready',
    );
    if (config.metricsAddress)
      zeroRunCounters({
        meter: runtime.metricMeter,
        namespace: temporal.namespace,
        taskQueue: temporal.taskQueue,
        clusters: Object.keys(config.clusters),
      });
    const stopGauges = config.metricsAddress
      ? startRunGauges({
          connection,
          namespace: temporal.namespace,
          taskQueue: temporal.taskQueue,
          clusters: Object.keys(config.clusters),
          meter: runtime.metricMeter,
          intervalMs: config.gaugeIntervalMs,
          logger,
        })
      : undefined;
    try {
      await worker.run();
    } finally {
      await stopGauges?.();
    }
    logger.info('worker stopped');
  } finally {
    await connection.close();
  }
}
