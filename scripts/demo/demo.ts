/**
 * The README's demo: the whole stack on the lab — the Temporal dev server with its Web UI, the lab
 * (prox-ops), the worker and the webhook server as their own processes — then two Renovate pull
 * requests merged and delivered as signed webhooks: a patch (pets) and a minor (cattle), each
 * watched live with `talos-upgrade status --watch`. Everything started is stopped at the end or on
 * Ctrl-C; --keep leaves it running to explore.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { execa, type ResultPromise } from 'execa';
import { SEARCH_ATTRIBUTES } from '../../src/domain/index.js';
import type { ClusterUpgradeResult } from '../../src/workflows/types.js';
import { readLabEnv } from '../../lab/labEnv.js';
import { freePort } from '../../lab/net/freePort.js';
import { stopOnSignals } from '../../lab/process/stopSignals.js';
import { startDevServer, type DevServer } from '../../lab/temporal/devServer.js';
import { startReleasesServer, TALOS_TAGS } from '../../lab/renovate/releasesServer.js';
import { labRenovateConfig } from '../../lab/renovate/renovateRun.js';
import { ensureTools } from '../../lab/tools.js';
import { labGitHubUrlTemplate, publishOnLabGitHub } from '../../lab/github/gitHost.js';
import { initArguments } from '../../lab/userFiles.js';
import { presetChoices, withChoices } from '../../test/harness/userInventory.js';
import {
  bumpsTalosTo,
  deliverMergedPullRequest,
  initRepository,
  mergeRenovateBranch,
  renovatePullRequest,
} from './renovateMerge.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin/talos-upgrade.js');
const LAB = join(ROOT, 'lab/bin/talos-lab.js');
// Another folder for a second demo beside the first (the test of its Ctrl-C uses one of its own).
const DIR = process.env.TALOS_UPGRADE_DEMO_DIR ?? join(ROOT, '.demo');
const keep = process.argv.includes('--keep');

const say = (text: string) => console.log(`\n\x1b[1m▶ ${text}\x1b[0m`);
const stops: Array<() => Promise<unknown>> = [];
let stopping = false;

async function stopAll(): Promise<void> {
  if (stopping) return;
  stopping = true;
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
}

/** A long-running process of ours, its output in a log file, stopped with SIGTERM. */
function background(name: string, args: string[], env: Record<string, string>): ResultPromise {
  const child = execa('node', args, {
    env,
    reject: false,
    stdout: { file: join(DIR, `${name}.log`) },
    stderr: { file: join(DIR, `${name}.log`) },
  });
  stops.push(async () => {
    child.kill('SIGTERM');
    await child;
  });
  return child;
}

/** Waits for a line of the child's log that matches, and gives the match. */
async function waitForLog(name: string, pattern: RegExp, child: ResultPromise): Promise<RegExpExecArray> {
  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${name} exited; see ${join(DIR, `${name}.log`)}`);
    const text = await readFile(join(DIR, `${name}.log`), 'utf8').catch(() => '');
    const match = pattern.exec(text);
    if (match) return match;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`${name} did not start in time; see ${join(DIR, `${name}.log`)}`);
}

async function main(): Promise<void> {
  await rm(DIR, { recursive: true, force: true });
  await mkdir(DIR, { recursive: true });

  say('Temporal dev server with its Web UI');
  const temporal: DevServer = await startDevServer({
    dataDir: join(DIR, 'temporal'),
    searchAttributes: SEARCH_ATTRIBUTES,
    ui: true,
    ...(process.env.DEMO_UI_PORT ? { uiPort: Number(process.env.DEMO_UI_PORT) } : {}),
  });
  stops.push(() => temporal.stop());
  console.log(`Temporal at ${temporal.address}; Web UI at ${temporal.uiUrl}`);

  say('The lab: prox-ops, 3 control-plane nodes and 12 workers at Talos 1.11.3');
  const labDir = join(DIR, 'lab');
  stops.push(() => execa('node', [LAB, 'down', '--dir', labDir], { reject: false }));
  await execa(
    'node',
    [LAB, 'up', '--preset', 'prox-ops', '--dir', labDir, '--max-unavailable-workers', '3'],
    {
      stdio: 'inherit',
    },
  );
  const labEnv = await readLabEnv(labDir);
  const repo = join(labDir, 'repo');

  say('Renovate (the real one) with the shipped preset, its releases from a loopback stand-in');
  const { renovate } = await ensureTools('renovate');
  const releases = await startReleasesServer();
  stops.push(() => releases.close());
  await initRepository(repo, await labRenovateConfig(releases.urlTemplate));
  console.log(`${repo}/renovate.json: the shipped renovate/talos-upgrade.json, releases from the lab`);
  // The repository on GitHub, where Renovate opens its pull requests and they are merged; the user's
  // clone (where init and Terraform run) has it as origin, and each run brings the clone to its merge.
  const github = await publishOnLabGitHub(labDir, repo, 'homelab/prox-ops');
  console.log(`GitHub's copy: ${github}; the clone's origin is https://github.com/homelab/prox-ops.git`);

  say('talos-upgrade init: the inventory, from what the cluster runs (the lab writes none)');
  const inventoryFile = join(repo, 'inventory.yaml');
  await execa(
    'node',
    [
      BIN,
      'init',
      ...initArguments(labDir, {
        kubeconfig: labEnv.KUBECONFIG ?? '',
        talosconfig: labEnv.TALOSCONFIG ?? '',
      }),
    ],
    {
      stdio: 'inherit',
      env: { TALOSCTL: labEnv.TALOSCTL ?? '', TERRAFORM: labEnv.TERRAFORM ?? '' },
    },
  );
  // What prox-ops's user adds by hand (test/fixtures/choices/prox-ops.yaml: policy and notifications;
  // init found the GPU and global patches), then demo pacing: short waits so the run is watchable in minutes; the
  // home-assistant app's PDB (minAvailable 1, one replica) is force-drained after the timeout, as
  // the documents accept.
  const choices = await presetChoices('prox-ops');
  choices.policy = {
    ...(choices.policy as Record<string, unknown>),
    stabilisation: '10s',
    maxParallelWorkers: 3,
    drain: { timeout: '15s', force: true },
  };
  await writeFile(inventoryFile, withChoices(await readFile(inventoryFile, 'utf8'), choices));

  const env = {
    ...(process.env as Record<string, string>),
    ...labEnv,
    TEMPORAL_ADDRESS: temporal.address,
    TALOS_UPGRADE_WEB_UI: temporal.uiUrl ?? '',
    // The worker reads each delivered merge from a git mirror of the repository on (the lab's) GitHub.
    TALOS_UPGRADE_SOURCE: 'git',
    TALOS_UPGRADE_GIT_URL: labGitHubUrlTemplate(labDir),
    TALOS_UPGRADE_GIT_CACHE: join(DIR, 'git-cache'),
  };
  say('The worker (talos-upgrade worker)');
  const metricsPort = await freePort();
  const worker = background(
    'worker',
    [BIN, 'worker', '--inventory', inventoryFile, '--metrics', `127.0.0.1:${metricsPort}`],
    env,
  );
  await waitForLog('worker', /"msg":"worker ready"/, worker);
  console.log(`ready; logs in .demo/worker.log, metrics at http://127.0.0.1:${metricsPort}/metrics`);

  say('The webhook server (talos-upgrade webhook): records each delivery in Temporal, answers 202');
  const secret = randomBytes(24).toString('hex');
  // Port 0: the server binds a free port itself and logs its address (no port picked here can be taken
  // by another process before the server binds it).
  const webhook = background('webhook', [BIN, 'webhook', '--inventory', inventoryFile, '--port', '0'], {
    ...env,
    TALOS_UPGRADE_WEBHOOK_SECRET: secret,
  });
  const listening = await waitForLog('webhook', /"listen":"([^"]+)"[^\n]*"msg":"webhook listening"/, webhook);
  const url = listening[1] ?? '';
  console.log(`listening at ${url}`);

  const connection = await Connection.connect({ address: temporal.address });
  stops.push(() => connection.close());
  const client = new Client({ connection });
  const results: ClusterUpgradeResult[] = [];

  for (const [number, to, kind] of [
    [101, '1.11.4', 'a patch: pets, in place'],
    [102, '1.12.1', 'a minor: cattle, VMs recreated by Terraform, 3 workers at a time'],
  ] as const) {
    // The releases API as it stood on the day `to` came out, so Renovate proposes exactly `to`.
    releases.setTags('siderolabs/talos', TALOS_TAGS.slice(0, TALOS_TAGS.indexOf(`v${to}`) + 1));
    const branch = await renovatePullRequest(github, renovate, bumpsTalosTo(to));
    say(`Renovate PR #${number} "${branch.prTitle}" [${branch.labels.join(', ')}] merged — ${kind}`);
    const merged = await mergeRenovateBranch(github, number, branch);
    console.log((await execa('git', ['-C', github, 'show', '--stat', '--format=%s', 'HEAD^2'])).stdout);
    const delivery = await deliverMergedPullRequest({
      url,
      secret,
      repository: 'homelab/prox-ops',
      number,
      title: branch.prTitle,
      base: merged.base,
      merge: merged.merge,
      labels: branch.labels,
    });
    console.log(`webhook answered ${delivery.status}: ${delivery.body.trim()}`);
    if (delivery.status !== 202) throw new Error('the webhook did not accept the merge');
    const workflowId = (JSON.parse(delivery.body) as { workflowIds: string[] }).workflowIds[0] ?? '';
    console.log(`Web UI: ${temporal.uiUrl}/namespaces/default/workflows/${encodeURIComponent(workflowId)}`);
    await waitForStart(client, workflowId);
    await execa('node', [BIN, 'status', workflowId, '--watch'], { env, stdio: 'inherit', reject: false });
    // A failed run carries its result in the UpgradeFailed details; show it in the summary too.
    const result = (await client.workflow
      .getHandle(workflowId)
      .result()
      .catch((e: { cause?: { details?: unknown[] } }) => e.cause?.details?.[0])) as ClusterUpgradeResult;
    results.push(result);
  }

  say('Summary');
  for (const r of results) {
    const nodes = r.nodes.filter((n) => n.outcome === 'upgraded');
    const mean = nodes.length ? nodes.reduce((s, n) => s + n.durationMs, 0) / nodes.length : 0;
    console.log(
      `${r.talos.from} -> ${r.talos.to}  ${r.hops
        .map((h) => h.strategy)
        .join('+')
        .padEnd(7)} ${r.outcome.padEnd(10)} ` +
        `${nodes.length}/${r.nodes.length} nodes  total ${Math.round(r.durationMs / 1000)}s  mean ${Math.round(mean / 1000)}s per node`,
    );
  }
  const report = await execa('node', [LAB, 'report', '--dir', labDir], { reject: false });
  console.log(report.stdout);
  console.log(`\nWeb UI: ${temporal.uiUrl}  (runs, their node child workflows, signals, history)`);
  if (results.some((r) => r.outcome !== 'succeeded')) process.exitCode = 1;
}

async function waitForStart(client: Client, workflowId: string): Promise<void> {
  for (let i = 0; i < 120; i++) {
    const found = await client.workflow
      .getHandle(workflowId)
      .describe()
      .catch(() => undefined);
    if (found) return;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`${workflowId} did not start`);
}

stopOnSignals('everything the demo started', stopAll);

try {
  await main();
  if (keep) {
    console.log('\n--keep: the stack stays up. Press Ctrl-C to stop it.');
    await new Promise(() => undefined);
  }
} catch (error) {
  console.error(`\ndemo failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
} finally {
  if (!keep || process.exitCode) await stopAll();
}
