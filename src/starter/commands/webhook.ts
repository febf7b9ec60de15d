import { once } from 'node:events';
import { deliveryRecorderFor } from '../enqueue.js';
import { loadInventoryFile } from '../inventoryFile.js';
import { createLogger } from '../logger.js';
import { connectClient } from '../temporalClient.js';
import { loadWebhookSettings } from '../webhook/config.js';
import { createWebhookServer } from '../webhook/server.js';

/** `talos-upgrade webhook`: serves GitHub deliveries until SIGINT or SIGTERM. */
export async function webhookCommand(options: { inventory: string[]; host?: string; port?: string }) {
  const inventories = await Promise.all(options.inventory.map((file) => loadInventoryFile(file)));
  const settings = await loadWebhookSettings(options, inventories);
  const logger = createLogger('talos-upgrade-webhook', process.env.TALOS_UPGRADE_LOG_LEVEL ?? 'info');
  const temporal = await connectClient();
  const server = createWebhookServer({
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
      server.close(() => resolve());
      server.closeIdleConnections();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await temporal.close();
}
