import { once } from 'node:events';
import type { Server } from 'node:http';
import { boundPort } from '../../lab/net/freePort.js';
import { createWebhookServer, type WebhookDeps } from '../../src/starter/webhook/server.js';

/** The real webhook server on a free loopback port, for the suites that post deliveries to it. */
export interface WebhookEndpoint {
  server: Server;
  /** `http://127.0.0.1:<port>/webhook` */
  url: string;
  close(): Promise<void>;
}

export async function listenWebhook(deps: WebhookDeps): Promise<WebhookEndpoint> {
  const server = createWebhookServer(deps);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    server,
    url: `http://127.0.0.1:${boundPort(server)}/webhook`,
    close: () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections(); // kept-alive fetch connections would hold the close for seconds
      return closed;
    },
  };
}

/** Posts one delivery as GitHub does; without a signature, the header is left out. */
export async function postDelivery(
  url: string,
  event: string,
  body: string,
  signature: string | undefined,
): Promise<{ status: number; text: string }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-github-event': event,
      'x-github-delivery': crypto.randomUUID(),
      ...(signature === undefined ? {} : { 'x-hub-signature-256': signature }),
    },
    body,
  });
  return { status: response.status, text: await response.text() };
}
