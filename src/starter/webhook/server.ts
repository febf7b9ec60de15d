import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { verify } from '@octokit/webhooks-methods';
import type { Logger } from 'pino';
import { interpretDelivery, type Inventory } from '../../domain/index.js';
import type { DeliveredMerge } from '../../workflows/types.js';

export interface WebhookDeps {
  secret: string;
  inventories: Inventory[];
  /** Makes the merge durable in its cluster's queue; resolves once Temporal has it. */
  record(merge: DeliveredMerge): Promise<{ queueId: string; runId: string }>;
  logger: Logger;
  maxBodyBytes: number;
}

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
/** Thrown when the sender hangs up before its body ended; answered 400 (to no one) and logged. */
class SenderGone extends Error {}

/** The body, up to the limit; past it the rest is discarded and the request refused with 413. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) return Promise.reject(new BodyTooLarge(`body over ${limit} bytes`));
  // Events, not an async iterator: a delivery is a chunk or two, and the iterator's machinery is
  // a noticeable share of the webhook's time per delivery under load.
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) return void chunks.push(chunk);
      req.off('data', onData);
      req.resume();
      reject(new BodyTooLarge(`body over ${limit} bytes`));
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks)));
    // A sender that hangs up mid-body: Node reports it as an 'error' ("aborted"), or only as a
    // 'close'. It is the sender's doing, not Temporal's: answered 400 and logged as a warning. After
    // 'end' neither changes anything (a settled promise stays settled).
    const gone = (why: string) =>
      reject(new SenderGone(`the sender's connection ${why} before the body ended`));
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

async function route(deps: WebhookDeps, req: IncomingMessage): Promise<HttpAnswer> {
  const path = (req.url ?? '/').split('?')[0];
  if (path === '/healthz') return answer(200, 'ok');
  if (path !== '/webhook' && path !== '/') return answer(404, 'not found: POST deliveries to /webhook');
  if (req.method !== 'POST') return answer(405, 'POST deliveries to /webhook');
  const body = await readBody(req, deps.maxBodyBytes);
  // Nothing to verify or act on (and the signature library refuses an empty payload outright).
  if (body.length === 0) return answer(400, 'the body is empty: GitHub deliveries carry a JSON payload');
  if (!(await verified(deps.secret, body, header(req, 'x-hub-signature-256'))))
    return answer(401, 'bad or missing X-Hub-Signature-256');
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
 * The GitHub webhook endpoint (POST /webhook, GET /healthz). Bad input gets a 4xx, never a 5xx; a
 * 503 means Temporal did not take the delivery, and GitHub's redelivery (by hand or by script) is the
 * retry. A 202 means the merge is recorded and will be read, whatever happens to GitHub meanwhile.
 * Logs carry the delivery id, event and outcome — never the body, the signature or the secret.
 */
export function createWebhookServer(deps: WebhookDeps): Server {
  return createServer((req: IncomingMessage, res: ServerResponse) => {
    const started = Date.now();
    const delivery = header(req, 'x-github-delivery');
    const event = header(req, 'x-github-event');
    void route(deps, req)
      .catch((error: unknown) => {
        if (error instanceof BodyTooLarge) return answer(413, error.message);
        if (error instanceof SenderGone) return answer(400, error.message);
        deps.logger.error({ delivery, event, err: (error as Error).message }, 'delivery failed');
        return answer(503, `could not record the delivery in Temporal: ${(error as Error).message}`);
      })
      .then((result) => {
        const level = result.status >= 500 ? 'error' : result.status >= 400 ? 'warn' : 'info';
        deps.logger[level](
          { delivery, event, status: result.status, ms: Date.now() - started, message: result.body.message },
          'delivery',
        );
        if (res.headersSent) return;
        res.writeHead(result.status, {
          'content-type': 'application/json',
          connection: result.status === 413 ? 'close' : 'keep-alive',
        });
        res.end(JSON.stringify(result.body) + '\n');
      });
  });
}
