import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import { untilReady } from './untilReady.js';

const BIN = fileURLToPath(new URL('../../bin/talos-upgrade.js', import.meta.url));

export interface WebhookProcess {
  child: ResultPromise;
  /** http://<host>:<port>/metrics, when started with --metrics. */
  metrics?: string;
  /** http://<host>:<port>, where it says it listens (127.0.0.1 unless TALOS_UPGRADE_WEBHOOK_HOST says otherwise). */
  origin: string;
  /** Everything it printed so far. */
  output: string[];
}

/** What the webhook logs once it listens: the address it bound, as a user reads it. */
function listenedAt(output: string[]): string | undefined {
  for (const line of output.join('').split('\n')) {
    if (!line.includes('webhook listening')) continue;
    let record: { listen?: string };
    try {
      record = JSON.parse(line) as { listen?: string };
    } catch {
      continue; // the line is not all there yet: read again with the next chunk
    }
    if (record.listen) return new URL(record.listen).origin;
  }
  return undefined;
}

/**
 * Starts `talos-upgrade webhook --port 0` with `env` added to this process's, as an operator would,
 * and waits until it listens: the port is the one it bound and logged (a port picked free beforehand can be taken by another suite
 * before the server binds it). Its log level must let the info line through.
 */
export async function launchWebhook(
  inventory: string,
  env: Record<string, string>,
  extraArgs: string[] = [],
): Promise<WebhookProcess> {
  const child = execa('node', [BIN, 'webhook', '--inventory', inventory, '--port', '0', ...extraArgs], {
    env,
    reject: false,
    all: true,
  });
  const output: string[] = [];
  child.all?.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
  const origin = await untilReady(
    child,
    'the webhook server to listen',
    () => listenedAt(output),
    () => output.join(''),
    60_000,
  );
  const metrics = output
    .join('')
    .split('\n')
    .map((line) => /"metrics":"([^"]+)".*webhook metrics listening/.exec(line)?.[1])
    .find(Boolean);
  return { child, origin, output, ...(metrics ? { metrics } : {}) };
}
