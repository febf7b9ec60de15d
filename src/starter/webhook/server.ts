import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { verify } from '@octokit/webhooks-methods';
import type { Logger } from 'pino';
import { interpretDelivery, type Inventory } from '../../domain/index.js';
import type { DeliveredMerge } from '../../workflows/types.js';
import type { WebhookMetrics } from './metrics.js';

export interface WebhookDeps {
  secret: string;
  inventories: Inventory[];
  /** Makes the merge durable in its cluster's queue; resolves once Temporal has it. */
  record(merge: DeliveredMerge): Promise<{ queueId: string; runId: string }>;
  logger: Logger;
  maxBodyBytes: number;
  /** Whether Temporal answers (`/readyz`): throws with the reason when it does not. */
  ready?: () => Promise<void>;
  /** What unauthenticated senders may hold of the server (defaults: WEBHOOK_LIMITS). */
  limits?: Partial<WebhookLimits>;
  /** Counts each delivery to POST /webhook by its answer (metrics.ts). */
  metrics?: WebhookMetrics;
}

/**
 * What an unauthenticated sender can hold: the webhook faces the internet, and a body is buffered
 * whole before its signature can be checked. A sender that sends its headers or its body too slowly
 * is disconnected (slow-loris); past `maxConnections` a connection is closed as it comes; past
 * `maxBytesInFlight` of unverified bodies across all requests a delivery is answered 429 (GitHub's
 * payloads are at most 25 MB; a missed delivery is the poller's to pick up).
 */
export interface WebhookLimits {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  maxConnections: number;
  maxBytesInFlight: number;
}

export const WEBHOOK_LIMITS: WebhookLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  maxConnections: 256,
  maxBytesInFlight: 64 * 1024 * 1024,
};

/** An HTTP answer. A plain object, not an Error: every delivery gets one, and a stack costs time. */
interface HttpAnswer {
  status: number;
  body: Record<string, unknown>;
}

const answer = (status: number, message: string, extra: Record<string, unknown> = {}): HttpAnswer => ({
  status,
  body: { message, ...extra },
});

/** Thrown from the reading of a body over the limit; answered 413. */
class BodyTooLarge extends Error {}
/** Thrown when the unverified bodies of all requests would pass their limit; answered 429. */
class TooMuchInFlight extends Error {}

/** Thrown when the sender hangs up before its body ended; answered 400 (to no one) and logged. */
class SenderGone extends Error {}

/** The bytes of bodies read and not yet verified, across all requests of one server. */
interface InFlight {
  bytes: number;
  limit: number;
}

/**
 * The body, up to the limit; past it the rest is discarded and the request refused with 413 (at once
 * when Content-Length says so). While it is read its bytes count in `inFlight`; a body that ends is
 * the caller's to give back (`inFlight.bytes -= body.length`), one that does not is given back here.
 */
function readBody(req: IncomingMessage, limit: number, inFlight: InFlight): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) return Promise.reject(new BodyTooLarge(`body over ${limit} bytes`));
  // Events, not an async iterator: a delivery is a chunk or two, and the iterator's machinery is
  // a noticeable share of the webhook's time per delivery under load.
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const fail = (error: Error) => {
      if (settled) return;
      settled = true;
      inFlight.bytes -= size;
      req.off('data', onData);
      req.resume();
      reject(error);
    };
    const onData = (chunk: Buffer) => {
      if (size + chunk.length > limit) return fail(new BodyTooLarge(`body over ${limit} bytes`));
      if (inFlight.bytes + chunk.length > inFlight.limit)
        return fail(new TooMuchInFlight('too many deliveries in flight: try again shortly'));
      size += chunk.length;
      inFlight.bytes += chunk.length;
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => {
      if (settled) return;
      settled = true;
      resolve(Buffer.concat(chunks));
    });
    // A sender that hangs up mid-body: Node reports it as an 'error' ("aborted"), or only as a
    // 'close'. It is the sender's doing, not Temporal's: answered 400 and logged as a warning. After
    // 'end' neither changes anything.
    const gone = (why: string) =>
      fail(new SenderGone(`the sender's connection ${why} before the body ended`));
    req.once('error', (error) => gone(`failed (${error.message})`));
    req.once('close', () => gone('closed'));
  });
}

function header(req: IncomingMessage, name: string): string {
  const value = req.headers[name];
  return (Array.isArray(value) ? value[0] : value) ?? '';
}

async function verified(secret: string, body: Buffer, signature: string): Promise<boolean> {
  if (!/^sha256=[0-9a-f]{64}$/.test(signature)) return false;
  try {
    // The library compares in constant time; the body must be the exact bytes GitHub signed.
    return await verify(secret, body.toString('utf8'), signature);
  } catch {
    return false;
  }
}

/**
 * A delivery that passed the signature: a merge into the default branch of a repository that some
 * inventory names is recorded in each of its clusters' queues (signal-with-start) and answered 202 at
 * once. Nothing here reads the repository: the queue does, in an activity retried through an outage,
 * so a GitHub or git failure delays the upgrade instead of losing the merge.
 */
async function handleDelivery(
  deps: WebhookDeps,
  event: string,
  deliveryId: string,
  payload: unknown,
): Promise<HttpAnswer> {
  const intent = interpretDelivery(event, payload, deps.inventories);
  if (intent.kind === 'ping') return answer(200, 'pong', { zen: intent.zen });
  if (intent.kind === 'ignore') return answer(200, `ignored: ${intent.reason}`);
  if (intent.kind === 'invalid') return answer(400, intent.reason);

  const accepted = await Promise.all(
    intent.clusters.map(async (cluster) => {
      const merge: DeliveredMerge = {
        requestId: intent.after,
        cluster: cluster.name,
        delivery: {
          repository: intent.repository,
          before: intent.before,
          after: intent.after,
          event: event === 'pull_request' ? 'pull_request' : 'push',
          ...(deliveryId ? { id: deliveryId } : {}),
        },
        ...(intent.strategy ? { strategy: intent.strategy } : {}),
        ...(intent.strategyNote ? { strategyNote: intent.strategyNote } : {}),
        source: intent.source,
      };
      const ids = await deps.record(merge);
      return { cluster: cluster.name, workflowId: ids.runId, queue: ids.queueId };
    }),
  );
  return answer(202, `recorded: ${accepted.map((a) => a.queue).join(', ')}`, {
    // The run each queue starts if the merge moved a version (it reads the files first).
    workflowIds: accepted.map((a) => a.workflowId),
    accepted,
  });
}

/** `/readyz`: Temporal answers, so a delivery now would be recorded. */
async function readiness(deps: WebhookDeps): Promise<HttpAnswer> {
  if (!deps.ready) return answer(200, 'ready');
  try {
    await deps.ready();
    return answer(200, 'ready');
  } catch (error) {
    return answer(503, `not ready: Temporal does not answer (${(error as Error).message})`);
  }
}

const isDeliveryPath = (req: IncomingMessage) =>
  ['/webhook', '/'].includes((req.url ?? '/').split('?')[0] ?? '');

async function route(deps: WebhookDeps, req: IncomingMessage, inFlight: InFlight): Promise<HttpAnswer> {
  const path = (req.url ?? '/').split('?')[0];
  // Liveness: the process serves. Readiness (Temporal reachable) is /readyz.
  if (path === '/healthz') return answer(200, 'ok');
  if (path === '/readyz') return readiness(deps);
  if (path !== '/webhook' && path !== '/') return answer(404, 'not found: POST deliveries to /webhook');
  if (req.method !== 'POST') return answer(405, 'POST deliveries to /webhook');
  const body = await readBody(req, deps.maxBodyBytes, inFlight);
  // Held against the limit only until the signature is checked: a verified body is GitHub's.
  let held = body.length;
  const release = () => {
    inFlight.bytes -= held;
    held = 0;
  };
  try {
    return await verifiedDelivery(deps, req, body, release);
  } finally {
    release();
  }
}

async function verifiedDelivery(
  deps: WebhookDeps,
  req: IncomingMessage,
  body: Buffer,
  verifiedNow: () => void,
): Promise<HttpAnswer> {
  // Nothing to verify or act on (and the signature library refuses an empty payload outright).
  if (body.length === 0) return answer(400, 'the body is empty: GitHub deliveries carry a JSON payload');
  if (!(await verified(deps.secret, body, header(req, 'x-hub-signature-256'))))
    return answer(401, 'bad or missing X-Hub-Signature-256');
  verifiedNow();
  const event = header(req, 'x-github-event');
  if (!event) return answer(400, 'missing X-GitHub-Event');
  let payload: unknown;
  try {
    payload = JSON.parse(body.toString('utf8'));
  } catch {
    return answer(400, 'the body is not JSON');
  }
  return handleDelivery(deps, event, header(req, 'x-github-delivery'), payload);
}

/**
 * The GitHub webhook endpoint (POST /webhook, GET /healthz, GET /readyz). Bad input gets a 4xx, never
 * a 5xx; a 503 means Temporal did not take the delivery, and GitHub's redelivery (by hand or by
 * script), or the poller, is the retry. A 202 means the merge is recorded and will be read, whatever
 * happens to GitHub meanwhile. Logs carry the delivery id, event and outcome — never the body, the
 * signature or the secret.
 */
export function createWebhookServer(deps: WebhookDeps): Server {
  const limits = { ...WEBHOOK_LIMITS, ...deps.limits };
  const inFlight: InFlight = { bytes: 0, limit: limits.maxBytesInFlight };
  const server = createServer(
    // Node checks the header and request timeouts every connectionsCheckingInterval (30 s by default).
    { connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs / 2) },
    (req: IncomingMessage, res: ServerResponse) => {
      const started = Date.now();
      const delivery = header(req, 'x-github-delivery');
      const event = header(req, 'x-github-event');
      void route(deps, req, inFlight)
        .catch((error: unknown) => {
          if (error instanceof BodyTooLarge) return answer(413, error.message);
          if (error instanceof TooMuchInFlight) return answer(429, error.message);
          if (error instanceof SenderGone) return answer(400, error.message);
          deps.logger.error({ delivery, event, err: (error as Error).message }, 'delivery failed');
          return answer(503, `could not record the delivery in Temporal: ${(error as Error).message}`);
        })
        .then((result) => {
          if (req.method === 'POST' && isDeliveryPath(req)) deps.metrics?.delivered(result.status);
          const level = result.status >= 500 ? 'error' : result.status >= 400 ? 'warn' : 'info';
          deps.logger[level](
            {
              delivery,
              event,
              status: result.status,
              ms: Date.now() - started,
              message: result.body.message,
            },
            'delivery',
          );
          if (res.headersSent) return;
          // A refused body may still be arriving: the connection goes with the answer.
          const refused = result.status === 413 || result.status === 429;
          res.writeHead(result.status, {
            'content-type': 'application/json',
            connection: refused ? 'close' : 'keep-alive',
            ...(result.status === 429 ? { 'retry-after': '5' } : {}),
          });
          res.end(JSON.stringify(result.body) + '\n');
        });
    },
  );
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  server.maxConnections = limits.maxConnections;
  return server;
}
