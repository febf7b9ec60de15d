import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Inventory } from '../../domain/index.js';
import { UserError } from '../cliErrors.js';
import { gitCloneSource, githubContentsSource, type FileSource } from './fileSource.js';

export interface WebhookSettings {
  host: string;
  port: number;
  secret: string;
  source: FileSource;
  maxBodyBytes: number;
}

/** A secret from VAR, or from the file VAR_FILE names (a mounted Docker secret); never logged. */
async function secretFromEnv(env: NodeJS.ProcessEnv, name: string): Promise<string | undefined> {
  if (env[name]) return env[name];
  const file = env[`${name}_FILE`];
  if (!file) return undefined;
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch (error) {
    throw new UserError(`cannot read ${name}_FILE (${file}): ${(error as NodeJS.ErrnoException).code}`);
  }
}

/**
 * The webhook server's settings from flags and environment:
 *   TALOS_UPGRADE_WEBHOOK_SECRET(_FILE)  the shared secret set on the GitHub webhook (required)
 *   TALOS_UPGRADE_SOURCE                 github (contents API, default) or git (mirror clones)
 *   GITHUB_TOKEN(_FILE), GITHUB_API_URL  for the github source
 *   TALOS_UPGRADE_GIT_URL, TALOS_UPGRADE_GIT_CACHE  for the git source ({repo} = owner/name)
 *   TALOS_UPGRADE_WEBHOOK_MAX_BYTES      largest accepted body (default 5 MiB)
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
  const mode = env.TALOS_UPGRADE_SOURCE ?? 'github';
  let source: FileSource;
  if (mode === 'github') {
    const token = await secretFromEnv(env, 'GITHUB_TOKEN');
    source = githubContentsSource({
      apiUrl: env.GITHUB_API_URL ?? 'https://api.github.com',
      ...(token ? { token } : {}),
    });
  } else if (mode === 'git') {
    source = gitCloneSource({
      urlTemplate: env.TALOS_UPGRADE_GIT_URL ?? 'https://github.com/{repo}.git',
      cacheDir: env.TALOS_UPGRADE_GIT_CACHE ?? join(homedir(), '.cache', 'talos-upgrade', 'git'),
    });
  } else {
    throw new UserError(`TALOS_UPGRADE_SOURCE: expected github or git, got ${mode}`);
  }
  return {
    host: options.host ?? env.TALOS_UPGRADE_WEBHOOK_HOST ?? '127.0.0.1',
    port,
    secret,
    source,
    maxBodyBytes: Number(env.TALOS_UPGRADE_WEBHOOK_MAX_BYTES ?? 5 * 1024 * 1024),
  };
}
