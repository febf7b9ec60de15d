import { once } from 'node:events';
import { deliveryRecorderFor } from '../enqueue.js';
import { loadInventoryFile } from '../inventoryFile.js';
import { createLogger } from '../logger.js';
import { connectClient } from '../temporalClient.js';
import { loadWebhookSettings } from '../webhook/config.js';
import { createMetricsServer, createWebhookMetrics, metricsAddress } from '../webhook/metrics.js';
import { createWebhookServer } from '../webhook/server.js';

/** `talos-upgrade webhook`: serves GitHub deliveries until SIGINT or SIGTERM. */
export async function webhookCommand(options: {
  inventory: string[];
  host?: string;
  port?: string;
  metrics?: string;
}) {
  const inventories = await Promise.all(options.inventory.map((file) => loadInventoryFile(file)));
  const settings = await loadWebhookSettings(options, inventories);
  const logger = createLogger('talos-upgrade-webhook', process.env.TALOS_UPGRADE_LOG_LEVEL ?? 'info');
  const temporal = await connectClient();
  const metrics = createWebhookMetrics();
  const metricsAt = options.metrics ?? process.env.TALOS_UPGRADE_WEBHOOK_METRICS ?? 'off';
  const metricsServer = metricsAt === 'off' ? undefined : createMetricsServer(metrics);
  if (metricsServer) {
    const { host, port } = metricsAddress(metricsAt);
    metricsServer.listen(port, host);
    await once(metricsServer, 'listening');
    const bound = metricsServer.address();
    logger.info(
      {
        metrics:
          typeof bound === 'object' && bound ? `http://${bound.address}:${bound.port}/metrics` : metricsAt,
      },
      'webhook metrics listening',
    );
  }
  const server = createWebhookServer({
    metrics,
    secret: settings.secret,
    inventories,
    maxBodyBytes: settings.maxBodyBytes,
    logger,
    record: deliveryRecorderFor(temporal.client, temporal.settings.taskQueue),
    // /readyz: a delivery now would be recorded (Temporal's frontend answers within 3 s).
    ready: async () => {
      await temporal.client.connection.withDeadline(Date.now() + 3000, () =>
        temporal.client.workflowService.getSystemInfo({}),
      );
    },
  });
  server.listen(settings.port, settings.host);
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : settings.port;
  logger.info(
    {
      listen: `http://${settings.host}:${port}/webhook`,
      clusters: inventories.map((inv) => inv.cluster.name),
      temporal: temporal.settings.address,
      taskQueue: temporal.settings.taskQueue,
    },
    'webhook listening',
  );
  await new Promise<void>((resolve) => {
    const stop = () => {
      logger.info('webhook stopping');
      metricsServer?.close();
      server.close(() => resolve());
      server.closeIdleConnections();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await temporal.close();
}
