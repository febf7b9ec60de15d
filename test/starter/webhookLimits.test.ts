import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Connection } from '@temporalio/client';
import { pino } from 'pino';
import { freePort } from '../../lab/net/freePort.js';
import type { WebhookDeps } from '../../src/starter/webhook/server.js';
import { connectToTestServer } from '../harness/temporalEnv.js';
import { listenWebhook, type WebhookEndpoint } from '../harness/webhookEndpoint.js';

/**
 * The webhook faces the internet: what an unauthenticated sender can hold of it is bounded (its
 * timeouts, connections and unverified bytes scaled down here), and it tells liveness from readiness.
 * Every answer here is a 4xx or a close: none reaches Temporal.
 */
const LIMITS = {
  headersTimeoutMs: 1000,
  requestTimeoutMs: 2000,
  keepAliveTimeoutMs: 1000,
  maxConnections: 20,
  maxBytesInFlight: 4 * 1024 * 1024,
};
const MAX_BODY = 1024 * 1024;

let env: Awaited<ReturnType<typeof connectToTestServer>>;
let webhook: WebhookEndpoint;
let port = 0;
const deps = (ready: WebhookDeps['ready']): WebhookDeps => ({
  secret: 'limits-test-secret',
  inventories: [],
  record: () => Promise.reject(new Error('an unsigned delivery reached Temporal')),
  logger: pino({ level: 'silent' }),
  maxBodyBytes: MAX_BODY,
  limits: LIMITS,
  ...(ready ? { ready } : {}),
});

beforeAll(async () => {
  env = await connectToTestServer();
  webhook = await listenWebhook(
    deps(async () => {
      await env.client.workflowService.getSystemInfo({});
    }),
  );
  port = Number(new URL(webhook.url).port);
});
afterAll(async () => {
  await webhook?.close();
  await env?.close();
});

/** A raw connection: what it was answered (the status line's code, if any) and how long it stayed open. */
async function rawRequest(
  send: (socket: Socket) => Promise<void>,
): Promise<{ status: number | undefined; openMs: number }> {
  const socket = connect({ host: '127.0.0.1', port });
  await new Promise((resolve) => socket.once('connect', resolve));
  const started = Date.now();
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => undefined);
  await Promise.race([send(socket).catch(() => undefined), closed]);
  await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 10_000))]);
  socket.destroy();
  const status = /^HTTP\/1\.1 (\d{3})/.exec(received)?.[1];
  return { status: status ? Number(status) : undefined, openMs: Date.now() - started };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Writes `text` a few bytes at a time until the socket closes or `ms` have passed. */
async function drip(socket: Socket, text: string, everyMs: number): Promise<void> {
  for (const char of text) {
    if (socket.destroyed) return;
    socket.write(char);
    await sleep(everyMs);
  }
}

const HEAD = 'POST /webhook HTTP/1.1\r\nHost: limits\r\nX-GitHub-Event: push\r\n';

describe('the webhook against slow and oversized senders', () => {
  it('headers sent too slowly (slow-loris): the connection is closed with 408 within the headers timeout', async () => {
    const { status, openMs } = await rawRequest(async (socket) => {
      socket.write(HEAD);
      await drip(socket, 'X-Padding: ' + 'a'.repeat(100), 200);
    });
    expect(status).toBe(408);
    expect(openMs).toBeLessThan(LIMITS.headersTimeoutMs + 2500);
  });

  it('a body sent too slowly: closed with 408 within the request timeout', async () => {
    const { status, openMs } = await rawRequest(async (socket) => {
      socket.write(`${HEAD}Content-Length: 1000\r\n\r\n`);
      await drip(socket, '{'.repeat(1000), 200);
    });
    expect(status).toBe(408);
    expect(openMs).toBeLessThan(LIMITS.requestTimeoutMs + 2500);
  });

  it('a body declared over the limit: 413 before any of it is sent; one sent chunked: 413 once past it', async () => {
    const declared = await rawRequest(async (socket) => {
      socket.write(`${HEAD}Content-Length: ${10 * MAX_BODY}\r\n\r\n`);
      await sleep(5000);
    });
    expect(declared.status).toBe(413);
    expect(declared.openMs).toBeLessThan(1000);
    const chunk = 'x'.repeat(64 * 1024);
    const chunked = await rawRequest(async (socket) => {
      socket.write(`${HEAD}Transfer-Encoding: chunked\r\n\r\n`);
      for (let sent = 0; sent < 4 * MAX_BODY && !socket.destroyed; sent += chunk.length) {
        socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
        await sleep(5);
      }
    });
    expect(chunked.status).toBe(413);
  });

  it('unverified bodies past the bytes in flight: 429, the others 401, never a 5xx', async () => {
    // Twelve senders each hold almost a whole body (under the per-body limit, three times the bytes
    // the server holds unverified), then finish it.
    const size = MAX_BODY - 1024;
    const results = await Promise.all(
      Array.from({ length: 12 }, () =>
        rawRequest(async (socket) => {
          socket.write(
            `${HEAD}Content-Length: ${size}\r\nX-Hub-Signature-256: sha256=${'0'.repeat(64)}\r\n\r\n`,
          );
          socket.write('x'.repeat(size - 1));
          await sleep(500);
          socket.write('x');
        }),
      ),
    );
    const statuses = results.map((r) => r.status ?? 0).sort();
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(12 - 4);
    expect(statuses.filter((s) => s !== 429 && s !== 401)).toEqual([]);
  });

  it('connections past the cap are closed as they come', async () => {
    const sockets = await Promise.all(
      Array.from(
        { length: LIMITS.maxConnections + 10 },
        () =>
          new Promise<{ socket: Socket; closed: () => boolean }>((resolve) => {
            const socket = connect({ host: '127.0.0.1', port });
            let closed = false;
            socket.on('error', () => undefined);
            socket.once('close', () => (closed = true));
            socket.once('connect', () => resolve({ socket, closed: () => closed }));
          }),
      ),
    );
    await sleep(500);
    const dropped = sockets.filter((s) => s.closed()).length;
    for (const { socket } of sockets) socket.destroy();
    expect(dropped).toBeGreaterThanOrEqual(10);
    // The flood gone, the server takes connections again.
    const deadline = Date.now() + 5000;
    let status = 0;
    while (status !== 200 && Date.now() < deadline) {
      status = await fetch(new URL('/healthz', webhook.url), { signal: AbortSignal.timeout(1000) }).then(
        (r) => r.status,
        () => 0,
      );
      if (status !== 200) await sleep(200);
    }
    expect(status).toBe(200);
  });
});

describe('liveness and readiness', () => {
  it('/healthz answers while the process serves; /readyz only while Temporal answers', async () => {
    expect((await fetch(new URL('/healthz', webhook.url))).status).toBe(200);
    expect((await fetch(new URL('/readyz', webhook.url))).status).toBe(200);
    // The same server with a Temporal that does not answer (nothing listens on its port).
    const gone = await freePort();
    const down = await listenWebhook(
      deps(async () => {
        const connection = await Connection.connect({ address: `127.0.0.1:${gone}`, connectTimeout: '1s' });
        await connection.close();
      }),
    );
    try {
      expect((await fetch(new URL('/healthz', down.url))).status).toBe(200);
      const ready = await fetch(new URL('/readyz', down.url));
      expect(ready.status).toBe(503);
      expect(((await ready.json()) as { message: string }).message).toMatch(
        /^not ready: Temporal does not answer/,
      );
    } finally {
      await down.close();
    }
  });
});
