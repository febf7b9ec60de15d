import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execa, type ResultPromise } from 'execa';
import { parse, stringify } from 'yaml';
import {
  deliverMergedPullRequest,
  initRepository,
  mergeVersionBump,
} from '../../scripts/demo/renovateMerge.js';
import { labGitHubUrlTemplate, publishOnLabGitHub } from '../../lab/github/gitHost.js';
import { freePort } from '../../lab/net/freePort.js';
import type { clusterUpgrade } from '../../src/workflows/index.js';
import {
  connectToTestServer,
  showWorkflowJson,
  testTemporalAddress,
  uniqueTaskQueue,
} from '../harness/temporalEnv.js';
import { clusterQueueLock } from '../harness/clusterQueueLock.js';
import { FAST_WAITS } from '../harness/fastPolicy.js';
import { selectedMetrics, shippedExpressions } from '../deploy/promql.js';
import { launchWebhook } from '../harness/webhookProcess.js';
import { eventually, startLab, type Lab } from '../lab/labHarness.js';
import { launchWorker, tunedInventory, type WorkerProcess } from '../worker/workerProcess.js';

const BIN = fileURLToPath(new URL('../../bin/talos-upgrade.js', import.meta.url));
const tag = randomBytes(6).toString('hex');
/** Recognisable values put where secrets live: the worker's environment, files, credentials. */
const secrets: Record<string, string> = {
  'Discord webhook URL (env)': `SECRET-discord-${tag}`,
  'generic webhook URL (file)': `SECRET-generic-${tag}`,
  'webhook shared secret': `SECRET-webhook-${tag}`,
  'GitHub token': `SECRET-github-${tag}`,
  'Proxmox API token (worker env)': `SECRET-proxmox-${tag}`,
  'machine config token (file)': `SECRET-machine-${tag}`,
};

let lab: Lab;
/** The lab GitHub's copy of the repository, where the pull request is merged. */
let hosted = '';
let env: Awaited<ReturnType<typeof connectToTestServer>>;
let worker: WorkerProcess | undefined;
let webhook: ResultPromise | undefined;
let receiver: Server;
const atlasQueue = clusterQueueLock('atlas');
const received: string[] = [];
let webhookLines: string[] = [];
let webhookMetrics = '';
const started = new Date();

beforeAll(async () => {
  // The user's clone, pushed to GitHub (the lab's) before init: init finds the repository in origin.
  lab = await startLab('atlas', [], {
    beforeInit: async (labDir) => {
      const clone = join(labDir, 'repo');
      await initRepository(clone);
      hosted = await publishOnLabGitHub(labDir, clone, 'homelab/atlas');
    },
  });
  await atlasQueue.acquire();
  env = await connectToTestServer();
  // The credentials the lab wrote are secrets too: its API token and the talosconfig's key material.
  const kubeconfig = parse(await readFile(lab.env.KUBECONFIG ?? '', 'utf8')) as {
    users: Array<{ user: { token: string } }>;
  };
  secrets['kubeconfig bearer token'] = kubeconfig.users[0]?.user.token ?? '';
  const talosconfig = parse(await readFile(lab.env.TALOSCONFIG ?? '', 'utf8')) as {
    contexts: Record<string, { key: string; crt: string }>;
  };
  secrets['talosconfig client key'] = Object.values(talosconfig.contexts)[0]?.key ?? '';
  // And what the lab generated with Talos's own generator: the cluster's secrets in its machine config
  // and the key of its Talos CA.
  const machineConfig = parse(await readFile(join(lab.dir, 'secrets', 'controlplane.yaml'), 'utf8')) as {
    cluster: { secret: string; token: string; secretboxEncryptionSecret?: string };
  };
  secrets['cluster secret (machine config)'] = machineConfig.cluster.secret;
  secrets['bootstrap token (machine config)'] = machineConfig.cluster.token;
  const caKey = (await readFile(join(lab.dir, 'secrets', 'ca.key'), 'utf8')).split('\n')[1] ?? '';
  if (caKey.length < 40) throw new Error('the lab Talos CA key is not where the test expects it');
  secrets['Talos CA key'] = caKey;
  for (const file of await readdir(join(lab.dir, 'secrets'))) {
    const path = join(lab.dir, 'secrets', file);
    const text = await readFile(path, 'utf8');
    await writeFile(path, text.replace(/token: .*/, `token: ${secrets['machine config token (file)']}`));
  }

  receiver = createServer((req, res) => {
    received.push(req.url ?? '');
    req.resume();
    res.writeHead(204).end();
  });
  receiver.listen(0, '127.0.0.1');
  await once(receiver, 'listening');
  const discordUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/api/webhooks/4242/${secrets['Discord webhook URL (env)']}`;
  // A target that cannot be reached, so the failure path is scanned too.
  const genericFile = join(lab.dir, 'secrets', 'generic-webhook-url');
  await writeFile(
    genericFile,
    `http://127.0.0.1:${await freePort()}/hooks/${secrets['generic webhook URL (file)']}\n`,
    { mode: 0o600 },
  );
  const inventory = await tunedInventory(lab.env.TALOS_UPGRADE_INVENTORY ?? '', FAST_WAITS, 'secrets');
  const doc = parse(await readFile(inventory, 'utf8')) as Record<string, unknown>;
  doc.notifications = [
    { type: 'discord', url: { env: 'DISCORD_WEBHOOK_URL' } },
    { type: 'webhook', url: { file: genericFile } },
  ];
  const repository = doc.repository as { github?: string; defaultBranch?: string } | undefined;
  if (repository?.github !== 'homelab/atlas' || repository.defaultBranch !== 'main')
    throw new Error(
      `init did not find homelab/atlas@main in the clone's origin: ${JSON.stringify(repository)}`,
    );
  await writeFile(inventory, stringify(doc));

  const taskQueue = uniqueTaskQueue('secrets');
  worker = await launchWorker({
    env: {
      ...lab.env,
      DISCORD_WEBHOOK_URL: discordUrl,
      PROXMOX_VE_API_TOKEN: secrets['Proxmox API token (worker env)'] ?? '',
      TALOS_UPGRADE_LOG_LEVEL: 'debug',
      GITHUB_TOKEN: secrets['GitHub token'] ?? '',
      TALOS_UPGRADE_SOURCE: 'git',
      TALOS_UPGRADE_GIT_URL: labGitHubUrlTemplate(lab.dir),
      TALOS_UPGRADE_GIT_CACHE: join(lab.dir, 'git-cache'),
    },
    inventories: [inventory],
    taskQueue,
  });
  const hook = await launchWebhook(
    inventory,
    {
      TEMPORAL_ADDRESS: testTemporalAddress(),
      TALOS_UPGRADE_TASK_QUEUE: taskQueue,
      TALOS_UPGRADE_WEBHOOK_SECRET: secrets['webhook shared secret'] ?? '',
      TALOS_UPGRADE_LOG_LEVEL: 'debug',
    },
    ['--metrics', '127.0.0.1:0'],
  );
  webhook = hook.child;
  webhookMetrics = hook.metrics ?? '';
  webhookLines = hook.output;
  (globalThis as { webhookUrl?: string }).webhookUrl = `${hook.origin}/webhook`;
}, 900_000);

afterAll(async () => {
  try {
    webhook?.kill('SIGTERM');
    await webhook;
    worker?.child.kill('SIGTERM');
    await worker?.child;
    receiver?.close();
    await env?.client.workflow
      .getHandle('talos-upgrade-queue:atlas')
      .terminate('test over')
      .catch(() => undefined);
  } finally {
    await atlasQueue.release();
  }
  await env?.close();
  await lab?.stop();
});

/** Every place a secret could leak to: each workflow history as the CLI shows it, and every log. */
async function everythingWritten(runId: string): Promise<Record<string, string>> {
  const sources: Record<string, string> = {};
  const ids = new Set<string>(['talos-upgrade-queue:atlas']);
  for await (const wf of env.client.workflow.list({
    query: `TalosCluster = "atlas" AND StartTime >= "${started.toISOString()}"`,
  }))
    ids.add(wf.workflowId);
  expect(ids.size).toBeGreaterThan(5);
  for (const id of ids) {
    sources[`history of ${id}`] = await showWorkflowJson(id);
  }
  const cli = (...args: string[]) =>
    execa('node', [BIN, ...args], {
      env: { TEMPORAL_ADDRESS: testTemporalAddress() },
      all: true,
      reject: false,
    });
  sources['talos-upgrade status'] = (await cli('status', runId)).all ?? '';
  sources['talos-upgrade history'] = (await cli('history', runId)).all ?? '';
  sources['talos-upgrade list'] = (await cli('list', '--cluster', 'atlas')).all ?? '';
  sources['worker log'] = worker?.lines.join('\n') ?? '';
  sources['webhook log'] = webhookLines.join('');
  sources['webhook metrics'] = await (await fetch(webhookMetrics)).text();
  return sources;
}

describe('secrets never reach workflow history or logs', () => {
  it('a cattle upgrade started by a signed webhook: zero hits for every secret', async () => {
    const url = (globalThis as { webhookUrl?: string }).webhookUrl ?? '';
    const forged = await fetch(url, {
      method: 'POST',
      headers: { 'x-github-event': 'ping', 'x-hub-signature-256': `sha256=${'0'.repeat(64)}` },
      body: '{}',
    });
    expect(forged.status).toBe(401);
    const merged = await mergeVersionBump(hosted, 7, '1.12.0');
    const delivery = await deliverMergedPullRequest({
      url,
      secret: secrets['webhook shared secret'] ?? '',
      repository: 'homelab/atlas',
      number: 7,
      title: 'chore(deps): update talos to v1.12.0',
      base: merged.base,
      merge: merged.merge,
    });
    expect(delivery.status).toBe(202);
    const runId = (JSON.parse(delivery.body) as { workflowIds: string[] }).workflowIds[0] ?? '';
    await eventually(
      'the run to start',
      async () =>
        !!(await env.client.workflow
          .getHandle(runId)
          .describe()
          .catch(() => undefined)),
      60_000,
    );
    const result = await env.client.workflow.getHandle<typeof clusterUpgrade>(runId).result();
    expect(result.outcome).toBe('succeeded');
    // The secrets were really in use: the Discord receiver got the run's notifications.
    expect(received.length).toBeGreaterThan(3);
    expect(received.every((path) => path.endsWith(secrets['Discord webhook URL (env)'] ?? '?'))).toBe(true);

    const sources = await everythingWritten(runId);
    expect(sources[`history of ${runId}`]).toContain('talos-cp-1');
    // The webhook's own metrics, on their own listener: the forged delivery and the signed one, and
    // every webhook metric the shipped alert rules select.
    const metrics = sources['webhook metrics'] ?? '';
    expect(metrics).toContain('talos_upgrade_webhook_deliveries_total{result="rejected"} 1');
    expect(metrics).toContain('talos_upgrade_webhook_deliveries_total{result="recorded"} 1');
    expect(metrics).toContain('talos_upgrade_webhook_deliveries_total{result="unrecorded"} 0');
    const wanted = (await shippedExpressions())
      .flatMap(({ expr }) => selectedMetrics(expr))
      .filter((name) => name.startsWith('talos_upgrade_webhook_'));
    expect(wanted.length).toBeGreaterThan(0);
    for (const name of wanted) expect(metrics).toContain(`${name}{`);
    const hits: string[] = [];
    for (const [name, value] of Object.entries(secrets)) {
      expect(value.length).toBeGreaterThan(8);
      for (const [where, text] of Object.entries(sources))
        if (text.includes(value)) hits.push(`${name} in ${where}`);
    }
    console.log(
      `secret scan: ${Object.keys(secrets).length} secrets × ${Object.keys(sources).length} sources ` +
        `(${Object.values(sources).reduce((n, t) => n + t.length, 0)} characters): ${hits.length} hits`,
    );
    expect(hits).toEqual([]);
  }, 900_000);
});
