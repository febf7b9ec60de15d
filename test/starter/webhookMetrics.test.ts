import { once } from 'node:events';
import { describe, expect, it } from '@jest/globals';
import {
  createMetricsServer,
  createWebhookMetrics,
  deliveryResult,
  metricsAddress,
} from '../../src/starter/webhook/metrics.js';

describe("the webhook's delivery metrics", () => {
  it('count each answer by what became of the delivery, every result from 0, on their own listener', async () => {
    expect([202, 200, 400, 401, 413, 429, 503].map(deliveryResult)).toEqual([
      'recorded',
      'ignored',
      'rejected',
      'rejected',
      'rejected',
      'throttled',
      'unrecorded',
    ]);
    const metrics = createWebhookMetrics();
    const server = createMetricsServer(metrics);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const address = server.address();
      const origin = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
      const before = await (await fetch(`${origin}/metrics`)).text();
      expect(before).toContain('talos_upgrade_webhook_deliveries_total{result="unrecorded"} 0');
      // Temporal down: the delivery was answered 503, twice.
      metrics.delivered(503);
      metrics.delivered(503);
      metrics.delivered(202);
      const after = await (await fetch(`${origin}/metrics`)).text();
      expect(after).toContain('talos_upgrade_webhook_deliveries_total{result="unrecorded"} 2');
      expect(after).toContain('talos_upgrade_webhook_deliveries_total{result="recorded"} 1');
      expect((await fetch(`${origin}/webhook`)).status).toBe(404);
    } finally {
      server.close();
    }
  });

  it('takes host:port for --metrics and refuses anything else before it listens', () => {
    expect(metricsAddress('127.0.0.1:9465')).toEqual({ host: '127.0.0.1', port: 9465 });
    expect(metricsAddress('[::1]:0')).toEqual({ host: '::1', port: 0 });
    expect(metricsAddress(':9465')).toEqual({ host: '127.0.0.1', port: 9465 });
    for (const bad of ['9465', 'localhost', 'host:port', '127.0.0.1:99999'])
      expect(() => metricsAddress(bad)).toThrow(/--metrics .*give host:port/);
  });
});
