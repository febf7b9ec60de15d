import { createServer, type Server } from 'node:http';
import { Counter, Registry } from 'prom-client';

/** What became of a delivery to POST /webhook. */
export type DeliveryResult = 'recorded' | 'ignored' | 'rejected' | 'throttled' | 'unrecorded';

const RESULTS: readonly DeliveryResult[] = ['recorded', 'ignored', 'rejected', 'throttled', 'unrecorded'];

/** The answer's status, as the delivery's result: 503 (Temporal did not take it) is `unrecorded`. */
export function deliveryResult(status: number): DeliveryResult {
  if (status === 202) return 'recorded';
  if (status === 429) return 'throttled';
  if (status >= 500) return 'unrecorded';
  if (status >= 400) return 'rejected';
  return 'ignored';
}

export interface WebhookMetrics {
  registry: Registry;
  delivered(status: number): void;
}

/**
 * `talos_upgrade_webhook_deliveries_total{result}`: a signed delivery that was `unrecorded` (Temporal
 * down) reaches the cluster only through a redelivery or the poller, and the shipped alert says so;
 * `throttled` (429) is answered before any signature is checked. Every result starts at 0, so the
 * first one is an increase Prometheus sees. Requests Node refuses before the handler runs (408 on a
 * slow sender, connections past the cap) are not deliveries and are not counted.
 */
export function createWebhookMetrics(): WebhookMetrics {
  const registry = new Registry();
  const deliveries = new Counter({
    name: 'talos_upgrade_webhook_deliveries_total',
    help: 'GitHub deliveries to POST /webhook, by what became of them',
    labelNames: ['result'],
    registers: [registry],
  });
  for (const result of RESULTS) deliveries.inc({ result }, 0);
  return { registry, delivered: (status) => deliveries.inc({ result: deliveryResult(status) }) };
}

/** GET /metrics on its own listener (the webhook's port faces the internet; this one should not). */
export function createMetricsServer(metrics: WebhookMetrics): Server {
  return createServer((req, res) => {
    if ((req.url ?? '/').split('?')[0] !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    metrics.registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
      (error: unknown) => res.writeHead(500).end(String(error)),
    );
  });
}

/** `--metrics <host:port>`: the address to serve /metrics on, checked before anything listens. */
export function metricsAddress(value: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(value);
  const port = Number(match?.[3]);
  if (!match || port > 65535)
    throw new Error(
      `--metrics ${value}: give host:port (127.0.0.1:9465, [::1]:9465, 0.0.0.0:9465; port 0 picks a free one), or off`,
    );
  return { host: match[1] ?? (match[2] || '127.0.0.1'), port };
}
