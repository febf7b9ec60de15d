import { createHmac } from 'node:crypto';
import { once } from 'node:events';
import { connect } from 'node:net';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { WorkflowNotFoundError } from '@temporalio/client';
import fc from 'fast-check';
import { pino } from 'pino';
import { parseDocument } from 'yaml';
import { buildRepository } from '../../bench/webhook.js';
import { parseInventory, type Inventory } from '../../src/domain/index.js';
import { queueWorkflowId, deliveryRecorderFor } from '../../src/starter/enqueue.js';
import { connectToTestServer, uniqueTaskQueue } from '../harness/temporalEnv.js';
import { listenWebhook, postDelivery, type WebhookEndpoint } from '../harness/webhookEndpoint.js';
import { mutate, mutation, type Json } from './mutate.js';

const SECRET = 'fuzz-webhook-secret';
const LIMIT = 16 * 1024;
const id = Date.now().toString(36);
// Signed deliveries name one repository; forged ones another, whose cluster must never see a run.
const SIGNED = { cluster: `fuzz-signed-${id}`, repository: `fuzz/signed-${id}` };
const FORGED = { cluster: `fuzz-forged-${id}`, repository: `fuzz/forged-${id}` };

let env: Awaited<ReturnType<typeof connectToTestServer>>;
let endpoint: WebhookEndpoint;
let url: string;
let dir: string;
let history: Awaited<ReturnType<typeof buildRepository>>;
/** The server's log lines at warn and above (every refused delivery writes one). */
const logged: string[] = [];

async function inventoryFor(names: { cluster: string; repository: string }): Promise<Inventory> {
  const doc = parseDocument(await readFile(new URL('../../examples/prox-ops.yaml', import.meta.url), 'utf8'));
  doc.setIn(['cluster', 'name'], names.cluster);
  doc.setIn(['repository', 'github'], names.repository);
  const parsed = parseInventory(doc.toString());
  if (!parsed.ok) throw new Error('example inventory invalid');
  return parsed.inventory;
}

beforeAll(async () => {
  env = await connectToTestServer();
  dir = await mkdtemp(join(tmpdir(), 'talos-upgrade-fuzz-'));
  history = await buildRepository(join(dir, 'repo'), 5);
  const taskQueue = uniqueTaskQueue('fuzz');
  endpoint = await listenWebhook({
    secret: SECRET,
    inventories: [await inventoryFor(SIGNED), await inventoryFor(FORGED)],
    // No worker polls this task queue: what is checked is what the webhook answers and records.
    record: deliveryRecorderFor(env.client, taskQueue),
    logger: pino({ level: 'warn' }, { write: (line: string) => void logged.push(line) }),
    maxBodyBytes: LIMIT,
  });
  url = endpoint.url;
}, 120_000);

afterAll(async () => {
  await endpoint?.close();
  for (const names of [SIGNED, FORGED])
    await env?.client.workflow
      .getHandle(queueWorkflowId(names.cluster))
      .terminate('fuzzing over')
      .catch(() => undefined);
  await env?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** GitHub's signature, computed here independently of the library the server verifies with. */
function sign(secret: string, body: string): Promise<string> {
  return Promise.resolve(`sha256=${createHmac('sha256', secret).update(body).digest('hex')}`);
}

const deliver = (event: string, body: string, signature: string | undefined) =>
  postDelivery(url, event, body, signature);

/** Realistically shaped deliveries of each kind GitHub sends, for the mutations to start from. */
function realistic(repository: string, pick: number): { event: string; payload: Json } {
  const repo = { full_name: repository, default_branch: 'main', private: true, owner: { login: 'homelab' } };
  const merge = history.merges[pick % history.merges.length] ?? { base: '', merge: '' };
  const quiet = history.quiet[pick % history.quiet.length] ?? { before: '', after: '' };
  const pullRequest = (action: string, merged: boolean, labels: string[]) => ({
    event: 'pull_request',
    payload: {
      action,
      number: 40 + pick,
      pull_request: {
        number: 40 + pick,
        title: 'chore(deps): update talos to v1.11.4',
        merged,
        merge_commit_sha: merged ? merge.merge : null,
        base: { ref: 'main', sha: merge.base },
        head: { ref: 'renovate/talos-1.x', sha: merge.merge },
        labels: labels.map((name) => ({ name })),
        user: { login: 'renovate[bot]' },
      },
      repository: repo,
      sender: { login: 'renovate[bot]' },
    },
  });
  const kinds: Array<{ event: string; payload: Json }> = [
    pullRequest('closed', true, []),
    pullRequest('closed', true, ['upgrade-cattle']),
    pullRequest('closed', true, ['upgrade-pets', 'upgrade-cattle']),
    pullRequest('closed', false, []),
    pullRequest('opened', false, []),
    {
      event: 'push',
      payload: {
        ref: 'refs/heads/main',
        before: merge.base,
        after: merge.merge,
        repository: repo,
        pusher: { name: 'me' },
      },
    },
    {
      event: 'push',
      payload: {
        ref: 'refs/heads/main',
        before: quiet.before,
        after: quiet.after,
        repository: repo,
        pusher: null,
      },
    },
    { event: 'ping', payload: { zen: 'Design for failure.', hook_id: 7, hook: { type: 'Repository' } } },
    { event: 'issues', payload: { action: 'opened', repository: repo } },
  ];
  return kinds[pick % kinds.length] ?? { event: 'ping', payload: {} };
}

const body = fc.oneof(
  { weight: 6, arbitrary: fc.array(mutation, { maxLength: 3 }).map((ms) => ({ kind: 'json' as const, ms })) },
  { weight: 1, arbitrary: fc.nat(400).map((cut) => ({ kind: 'truncated' as const, cut })) },
  { weight: 1, arbitrary: fc.string({ maxLength: 200 }).map((text) => ({ kind: 'text' as const, text })) },
  { weight: 1, arbitrary: fc.nat(3).map((extra) => ({ kind: 'huge' as const, extra })) },
);

describe('fuzzing the webhook endpoint with realistically shaped deliveries', () => {
  it('a valid delivery starts a run, so the checks below could see one', async () => {
    const { event, payload } = realistic(SIGNED.repository, 0);
    const text = JSON.stringify(payload);
    const answer = await deliver(event, text, await sign(SECRET, text));
    expect(answer.status).toBe(202);
    await expect(
      env.client.workflow.getHandle(queueWorkflowId(SIGNED.cluster)).describe(),
    ).resolves.toBeDefined();
  });

  it('signed but mutated deliveries never get a 5xx', async () => {
    const answers = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(
        fc.nat(),
        body,
        fc.oneof(
          fc.constant(undefined),
          fc.constantFrom('push', 'ping', 'pull_request', '', 'PUSH'),
          fc.string({ maxLength: 20 }),
        ),
        async (pick, shape, eventOverride) => {
          const base = realistic(SIGNED.repository, pick);
          let text: string;
          if (shape.kind === 'json')
            text = JSON.stringify(shape.ms.reduce<Json>((d, m) => mutate(d, m), base.payload));
          else if (shape.kind === 'truncated') text = JSON.stringify(base.payload).slice(0, shape.cut);
          else if (shape.kind === 'text') text = shape.text;
          else
            text = JSON.stringify({
              ...(base.payload as object),
              padding: 'x'.repeat(LIMIT + shape.extra * 1000),
            });
          const event = eventOverride ?? base.event;
          const answer = await deliver(event, text, await sign(SECRET, text));
          answers.set(answer.status, (answers.get(answer.status) ?? 0) + 1);
          expect(answer.status).toBeLessThan(500);
          expect([200, 202, 400, 413]).toContain(answer.status);
          expect(() => JSON.parse(answer.text) as unknown).not.toThrow();
        },
      ),
      { numRuns: 1500 },
    );
    // The mutations reached every kind of answer, not just the first check that refuses them.
    expect([...answers.keys()].sort()).toEqual(expect.arrayContaining([200, 202, 400, 413]));
  }, 600_000);

  it('deliveries without a valid signature are refused with 401 and never start a run', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.nat(2),
        fc.oneof(
          fc.constant({ kind: 'missing' as const }),
          fc.nat(63).map((at) => ({ kind: 'flipped' as const, at })),
          fc
            .string({ minLength: 1, maxLength: 20 })
            .map((secret) => ({ kind: 'wrong secret' as const, secret })),
          fc.constant({ kind: 'other body' as const }),
          fc.constant({ kind: 'sha1' as const }),
          fc.constant({ kind: 'uppercase' as const }),
          fc.string({ maxLength: 80 }).map((text) => ({ kind: 'garbage' as const, text })),
        ),
        async (pick, forgery) => {
          // Merged pull requests and a push that bump the version: each would start a run if signed.
          const { event, payload } = realistic(FORGED.repository, [0, 1, 5][pick] ?? 0);
          const text = JSON.stringify(payload);
          const good = await sign(SECRET, text);
          const signature =
            forgery.kind === 'missing'
              ? undefined
              : forgery.kind === 'flipped'
                ? `sha256=${[...good.slice(7)].map((c, i) => (i === forgery.at ? (c === '0' ? '1' : '0') : c)).join('')}`
                : forgery.kind === 'wrong secret'
                  ? await sign(`${SECRET}${forgery.secret}`, text)
                  : forgery.kind === 'other body'
                    ? await sign(SECRET, `${text} `)
                    : forgery.kind === 'sha1'
                      ? good.replace('sha256=', 'sha1=')
                      : forgery.kind === 'uppercase'
                        ? good.toUpperCase()
                        : forgery.text;
          const answer = await deliver(event, text, signature);
          expect(answer.status).toBe(401);
        },
      ),
      { numRuns: 700 },
    );
    await expect(
      env.client.workflow.getHandle(queueWorkflowId(FORGED.cluster)).describe(),
    ).rejects.toBeInstanceOf(WorkflowNotFoundError);
    const runs = env.client.workflow.list({ query: `TalosCluster = "${FORGED.cluster}"` });
    let count = 0;
    for await (const _ of runs) count++;
    expect(count).toBe(0);
  }, 600_000);

  it('a sender that hangs up before its body ends is a warning (400), not a Temporal failure (503)', async () => {
    const delivery = `hangup-${id}`;
    const socket = connect(Number(new URL(url).port), '127.0.0.1');
    await once(socket, 'connect');
    socket.write(
      [
        'POST /webhook HTTP/1.1',
        'host: 127.0.0.1',
        'content-type: application/json',
        'content-length: 1000',
        'x-github-event: push',
        `x-github-delivery: ${delivery}`,
        '',
        '{"ref": "refs/heads/ma',
      ].join('\r\n'),
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    socket.destroy();
    const line = async () => {
      for (let i = 0; i < 50; i++) {
        const found = logged.find((l) => l.includes(delivery));
        if (found) return JSON.parse(found) as { status: number; message: string };
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      return undefined;
    };
    expect(await line()).toMatchObject({
      status: 400,
      message: expect.stringContaining('before the body ended'),
    });
  });
});
