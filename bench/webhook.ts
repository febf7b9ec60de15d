/**
 * Webhook: latency and throughput of signed GitHub deliveries on loopback, against the real
 * `talos-upgrade webhook` process, which records each merge by signal-with-start into a real dev server
 * and reads no repository (the queue's worker does, later). The mix: merged pull requests that bump
 * talos_version (202; some redelivered), pushes that change no version (202: recorded, the queue finds
 * nothing to do), pings (200), and deliveries with a wrong signature (401). Target: p99 <= 20 ms for
 * every kind at 2000 deliveries from 8 senders.
 *
 * The first --warmup deliveries (100) are sent before the clock starts and reported on a line of
 * their own: the first write creates the queue workflow, and the webhook's code is not yet compiled.
 *
 *   node --import tsx bench/webhook.ts [--deliveries 2000] [--concurrency 8] [--warmup 100] [--temporal <addr>]
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { Agent, request as httpRequest } from 'node:http';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { sign } from '@octokit/webhooks-methods';
import { Command } from 'commander';
import { markdownTable } from 'markdown-table';
import { parseDocument } from 'yaml';
import { gitAsRenovate } from '../scripts/demo/renovateMerge.js';
import { launchWebhook } from '../test/harness/webhookProcess.js';
import { cpuSince, machineBusySeconds, treeCpu } from './lib/cpu.js';
import { slowMoments, type SlowMoments } from './lib/slowMoments.js';
import { wholeNumber } from './lib/options.js';
import { withStack } from './lib/stack.js';

const EXAMPLE = fileURLToPath(new URL('../examples/prox-ops.yaml', import.meta.url));

type Kind = 'merged pull request' | 'redelivery' | 'push, no version change' | 'ping' | 'bad signature';

export interface WebhookRow {
  kind: Kind | 'all';
  count: number;
  statuses: string;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface WebhookResult {
  rows: WebhookRow[];
  wallMs: number;
  throughput: number;
  serverErrors: number;
  /** The uncounted first deliveries, printed so that what they cost is in sight. */
  warmup: { count: number; p50Ms: number; maxMs: number; serverErrors: number };
  /** CPU milliseconds per delivery by process: where the machine's time went during the run. */
  cpuMsPerDelivery: { senders: number; webhook: number; devServer?: number; machine: number };
  /** The tail's shape: the answers over SLOW_MS, grouped into the moments they waited through. */
  slow: SlowMoments;
}

/** Three quarters of the target: what counts as a slow answer when the tail is described. */
const SLOW_MS = 15;

const git = gitAsRenovate;

const variablesTf = (talos: string) => `variable "talos_version" {
  type    = string
  default = "${talos}"
}

variable "kubernetes_version" {
  type    = string
  default = "1.34.1"
}
`;

/** A repository whose history alternates version bumps and unrelated commits; returns the pairs. */
export async function buildRepository(repo: string, bumps: number) {
  await mkdir(join(repo, 'terraform'), { recursive: true });
  await writeFile(join(repo, 'terraform', 'variables.tf'), variablesTf('1.11.0'));
  await writeFile(join(repo, 'README.md'), 'cluster\n');
  await git(repo, ['init', '--quiet', '--initial-branch', 'main']);
  await git(repo, ['add', '-A']);
  await git(repo, ['commit', '--quiet', '-m', 'initial']);
  const head = async () => (await git(repo, ['rev-parse', 'HEAD'])).stdout.trim();
  const merges: Array<{ base: string; merge: string }> = [];
  const quiet: Array<{ before: string; after: string }> = [];
  for (let i = 1; i <= bumps; i++) {
    let before = await head();
    await writeFile(join(repo, 'terraform', 'variables.tf'), variablesTf(`1.11.${i}`));
    await git(repo, ['commit', '--quiet', '-am', `chore(deps): update talos to v1.11.${i}`]);
    merges.push({ base: before, merge: await head() });
    before = await head();
    await writeFile(join(repo, 'README.md'), `cluster ${i}\n`);
    await git(repo, ['commit', '--quiet', '-am', `docs ${i}`]);
    quiet.push({ before, after: await head() });
  }
  return { merges, quiet };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

export async function runWebhookBench(options: {
  deliveries: number;
  concurrency: number;
  /** Deliveries sent first and not counted (the first write creates the queue; code not yet warm). */
  warmup?: number;
  temporal?: string;
  log?: (line: string) => void;
}): Promise<WebhookResult> {
  const log = options.log ?? ((line: string) => console.error(line));
  return withStack('webhook', async (stack) => {
    const temporal = await stack.temporal(options.temporal);
    const id = randomBytes(4).toString('hex');
    const cluster = `bench-webhook-${id}`;
    const repository = `bench/webhook-${id}`;
    const repo = join(stack.dir, 'repo');
    const bumps = Math.max(5, Math.ceil(options.deliveries / 20));
    log(`building a repository with ${bumps} version bumps`);
    const { merges, quiet } = await buildRepository(repo, bumps);
    // The example inventory, renamed so its queue is the benchmark's own on a shared server.
    const doc = parseDocument(await readFile(EXAMPLE, 'utf8'));
    doc.setIn(['cluster', 'name'], cluster);
    doc.setIn(['repository', 'github'], repository);
    const inventory = join(stack.dir, 'inventory.yaml');
    await writeFile(inventory, doc.toString());
    const secret = randomBytes(24).toString('hex');
    // 'info' for the line that says where it listens (one line per delivery besides, to a pipe).
    const { child: server, origin } = await launchWebhook(inventory, {
      TEMPORAL_ADDRESS: temporal.address,
      TALOS_UPGRADE_TASK_QUEUE: `bench-webhook-${id}`,
      TALOS_UPGRADE_WEBHOOK_SECRET: secret,
      TALOS_UPGRADE_LOG_LEVEL: 'info',
    });
    stack.defer(async () => {
      server.kill('SIGTERM');
      await server;
      // The queue has no worker here; end it so a shared server is left as it was found.
      await temporal.client.workflow
        .getHandle(`talos-upgrade-queue:${cluster}`)
        .terminate('benchmark over')
        .catch(() => undefined);
    });
    const url = `${origin}/webhook`;

    const warmup = options.warmup ?? 0;
    const plan: Kind[] = [];
    for (let i = 0; i < warmup + options.deliveries; i++) {
      const r = i % 20;
      plan.push(
        r < 10
          ? 'merged pull request'
          : r < 12
            ? 'redelivery'
            : r < 16
              ? 'push, no version change'
              : r < 18
                ? 'ping'
                : 'bad signature',
      );
    }
    let nextMerge = 0;
    const payloadFor = (kind: Kind): { event: string; body: string } => {
      const repo = { full_name: repository, default_branch: 'main' };
      if (kind === 'ping')
        return { event: 'ping', body: JSON.stringify({ zen: 'Keep it logically awesome.', hook_id: 1 }) };
      if (kind === 'push, no version change') {
        const pair = quiet[Math.floor(Math.random() * quiet.length)] ?? { before: '', after: '' };
        return {
          event: 'push',
          body: JSON.stringify({
            ref: 'refs/heads/main',
            ...pair,
            repository: repo,
            pusher: { name: 'someone' },
          }),
        };
      }
      const pair =
        kind === 'redelivery'
          ? merges[Math.max(0, nextMerge - 1) % merges.length]
          : merges[nextMerge++ % merges.length];
      return {
        event: 'pull_request',
        body: JSON.stringify({
          action: 'closed',
          number: 1000 + nextMerge,
          pull_request: {
            number: 1000 + nextMerge,
            merged: true,
            merge_commit_sha: pair?.merge,
            base: { ref: 'main', sha: pair?.base },
            labels: [],
            user: { login: 'renovate[bot]' },
          },
          repository: repo,
        }),
      };
    };
    // Signed and serialised before the clock starts, sent over kept-alive connections: the senders
    // share the 2 cores with the webhook and the dev server, and what they spend is not the webhook's.
    const deliveries = await Promise.all(
      plan.map(async (kind) => {
        const { event, body } = payloadFor(kind);
        const signature = await sign(kind === 'bad signature' ? `${secret}x` : secret, body);
        return { kind, event, body: Buffer.from(body), signature, id: randomUUID() };
      }),
    );
    const agent = new Agent({ keepAlive: true, maxSockets: options.concurrency });
    stack.defer(async () => agent.destroy());
    const post = (delivery: (typeof deliveries)[number]) =>
      new Promise<number>((resolve, reject) => {
        const request = httpRequest(
          url,
          {
            method: 'POST',
            agent,
            headers: {
              'content-type': 'application/json',
              'content-length': delivery.body.length,
              'x-github-event': delivery.event,
              'x-github-delivery': delivery.id,
              'x-hub-signature-256': delivery.signature,
            },
          },
          (response) => {
            response.resume();
            response.once('end', () => resolve(response.statusCode ?? 0));
            response.once('error', reject);
          },
        );
        request.once('error', reject);
        request.end(delivery.body);
      });
    type Sample = { kind: Kind; ms: number; status: number; sentAt: number };
    /** Sends the deliveries from the concurrent senders, each as soon as its last one was answered. */
    const sendAll = async (list: typeof deliveries): Promise<Sample[]> => {
      const samples: Sample[] = [];
      let cursor = 0;
      const sender = async () => {
        while (cursor < list.length) {
          const delivery = list[cursor++];
          if (!delivery) break;
          const t0 = performance.now();
          const status = await post(delivery);
          samples.push({ kind: delivery.kind, ms: performance.now() - t0, status, sentAt: t0 });
        }
      };
      await Promise.all(Array.from({ length: options.concurrency }, sender));
      return samples;
    };
    const warm = await sendAll(deliveries.slice(0, warmup));
    const warmSorted = warm.map((s) => s.ms).sort((a, b) => a - b);
    const roots: Record<string, number> = { webhook: server.pid ?? -1 };
    if (temporal.pid) roots.devServer = temporal.pid;
    const cpuBefore = await treeCpu(roots);
    const machineBefore = await machineBusySeconds();
    const sendersBefore = process.cpuUsage();
    const started = Date.now();
    const samples = await sendAll(deliveries.slice(warmup));
    const wallMs = Date.now() - started;
    const senders = process.cpuUsage(sendersBefore);
    const cpu = cpuSince(cpuBefore, await treeCpu(roots));
    const perDelivery = (seconds: number) => (seconds * 1000) / Math.max(1, samples.length);
    const cpuMsPerDelivery = {
      senders: perDelivery((senders.user + senders.system) / 1e6),
      webhook: perDelivery(cpu.webhook?.own ?? 0),
      ...(cpu.devServer ? { devServer: perDelivery(cpu.devServer.own) } : {}),
      machine: perDelivery((await machineBusySeconds()) - machineBefore),
    };
    const kinds: Array<Kind | 'all'> = [
      'merged pull request',
      'redelivery',
      'push, no version change',
      'ping',
      'bad signature',
      'all',
    ];
    const rows = kinds.map((kind) => {
      const mine = samples.filter((s) => kind === 'all' || s.kind === kind);
      const sorted = mine.map((s) => s.ms).sort((a, b) => a - b);
      const statuses = new Map<number, number>();
      for (const s of mine) statuses.set(s.status, (statuses.get(s.status) ?? 0) + 1);
      return {
        kind,
        count: mine.length,
        statuses: [...statuses].map(([status, n]) => `${status}×${n}`).join(' '),
        p50Ms: percentile(sorted, 50),
        p99Ms: percentile(sorted, 99),
        maxMs: sorted.at(-1) ?? 0,
      };
    });
    return {
      rows,
      wallMs,
      throughput: samples.length / (wallMs / 1000),
      serverErrors: samples.filter((s) => s.status >= 500).length,
      warmup: {
        count: warm.length,
        p50Ms: percentile(warmSorted, 50),
        maxMs: warmSorted.at(-1) ?? 0,
        serverErrors: warm.filter((s) => s.status >= 500).length,
      },
      cpuMsPerDelivery,
      slow: slowMoments(
        samples.map((s) => ({ ...s, writes: s.kind !== 'ping' && s.kind !== 'bad signature' })),
        SLOW_MS,
      ),
    };
  });
}

export function webhookTable(result: WebhookResult, concurrency: number): string {
  const table = markdownTable(
    [
      ['deliveries', 'count', 'answers', 'p50 (ms)', 'p99 (ms)', 'max (ms)'],
      ...result.rows.map((r) => [
        r.kind,
        String(r.count),
        r.statuses,
        r.p50Ms.toFixed(1),
        r.p99Ms.toFixed(1),
        r.maxMs.toFixed(1),
      ]),
    ],
    { align: ['l', 'r', 'l', 'r', 'r', 'r'] },
  );
  const cpu = result.cpuMsPerDelivery;
  const where = [
    `senders ${cpu.senders.toFixed(2)}`,
    `webhook ${cpu.webhook.toFixed(2)}`,
    ...(cpu.devServer !== undefined ? [`dev server ${cpu.devServer.toFixed(2)}`] : []),
    `whole machine ${cpu.machine.toFixed(2)}`,
  ].join(', ');
  const { slow } = result;
  const slowLine = `Answers over ${slow.thresholdMs} ms: ${slow.answers}, waiting through ${slow.moments} moments; ${slow.withoutWrite} of those moments also held a ping or a forged signature, which write nothing\n`;
  const warm = result.warmup;
  const warmLine = warm.count
    ? `Warm-up before the clock (not in the table): ${warm.count} deliveries, p50 ${warm.p50Ms.toFixed(1)} ms, max ${warm.maxMs.toFixed(1)} ms (the first write creates the queue), server errors: ${warm.serverErrors}\n`
    : '';
  return `${table}\n\n${result.rows.at(-1)?.count ?? 0} deliveries from ${concurrency} concurrent senders in ${(result.wallMs / 1000).toFixed(1)} s: ${result.throughput.toFixed(0)} deliveries/s; server errors: ${result.serverErrors}\nCPU ms per delivery: ${where}\n${slowLine}${warmLine}`;
}

async function main(): Promise<void> {
  const options = new Command('bench/webhook')
    .option('--deliveries <n>', 'signed deliveries to send', wholeNumber(1), 2000)
    .option('--concurrency <n>', 'senders at once', wholeNumber(1), 8)
    .option('--warmup <n>', 'deliveries sent first and not counted (0 for none)', wholeNumber(0), 100)
    .option('--temporal <address>', 'an existing Temporal frontend (default: a dev server of its own)')
    .parse()
    .opts<{ deliveries: number; concurrency: number; warmup: number; temporal?: string }>();
  const result = await runWebhookBench(options);
  console.log(webhookTable(result, options.concurrency));
  process.exitCode = result.serverErrors + result.warmup.serverErrors === 0 ? 0 : 1;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
