import type { Inventory } from '../../domain/index.js';
import { UserError } from '../cliErrors.js';
import { secretFromEnv } from '../envSecret.js';

export interface WebhookSettings {
  host: string;
  port: number;
  secret: string;
  maxBodyBytes: number;
}

/**
 * The webhook server's settings from flags and environment:
 *   TALOS_UPGRADE_WEBHOOK_SECRET(_FILE)  the shared secret set on the GitHub webhook (required)
 *   TALOS_UPGRADE_WEBHOOK_MAX_BYTES      largest accepted body (default 5 MiB)
 * The webhook reads no repository: the worker does (TALOS_UPGRADE_SOURCE, GITHUB_TOKEN), in an
 * activity with retries, after the delivery is recorded.
 */
export async function loadWebhookSettings(
  options: { host?: string; port?: string },
  inventories: Inventory[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<WebhookSettings> {
  const secret = await secretFromEnv(env, 'TALOS_UPGRADE_WEBHOOK_SECRET');
  if (!secret)
    throw new UserError(
      'set TALOS_UPGRADE_WEBHOOK_SECRET (or TALOS_UPGRADE_WEBHOOK_SECRET_FILE): the secret of the GitHub webhook',
    );
  const port = Number(options.port ?? env.TALOS_UPGRADE_WEBHOOK_PORT ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UserError(`--port: expected a port number, got ${options.port}`);
  const withoutRepo = inventories.filter((inv) => !inv.repository).map((inv) => inv.cluster.name);
  if (withoutRepo.length === inventories.length)
    throw new UserError(
      `no inventory has a repository section (${withoutRepo.join(', ')}): the webhook cannot tell which repository is whose`,
    );
  return {
    host: options.host ?? env.TALOS_UPGRADE_WEBHOOK_HOST ?? '127.0.0.1',
    port,
    secret,
    maxBodyBytes: Number(env.TALOS_UPGRADE_WEBHOOK_MAX_BYTES ?? 5 * 1024 * 1024),
  };
}
