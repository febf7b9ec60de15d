import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { sign } from '@octokit/webhooks-methods';
import { execa } from 'execa';
import { pino } from 'pino';
import { queueWorkflowId, deliveryRecorderFor } from '../../src/starter/enqueue.js';
import { queueQuery } from '../../src/workflows/signals.js';
import {
  bumpsTalosTo,
  deliverMergedPullRequest,
  gitAsRenovate,
  initRepository,
  mergeRenovateBranch,
  renovatePullRequest,
} from '../../scripts/demo/renovateMerge.js';
import { startReleasesServer, TALOS_TAGS, type ReleasesServer } from '../../lab/renovate/releasesServer.js';
import { labRenovateConfig } from '../../lab/renovate/renovateRun.js';
import { publishOnLabGitHub } from '../../lab/github/gitHost.js';
import { labGitHubSource } from '../harness/workerEnv.js';
import { ensureTools } from '../../lab/tools.js';
import { clusterQueueLock } from '../harness/clusterQueueLock.js';
import { listenWebhook, postDelivery, type WebhookEndpoint } from '../harness/webhookEndpoint.js';
import { eventually, startLab, type Lab } from '../lab/labHarness.js';
import { eventsSince, labStatus, notificationsOf, timelineMark, TOUCHING } from '../workflows/labViews.js';
import { applyRenovateBranch } from '../../lab/renovate/applyBranch.js';
import { runCli } from '../cli/runCli.js';
import { testTemporalAddress } from '../harness/temporalEnv.js';
import { startWorkflowHarness, type WorkflowHarness } from '../workflows/workflowHarness.js';
import { ensurePollSchedules, pollScheduleId } from '../../src/worker/pollSchedules.js';
import type { PollState } from '../../src/workflows/pollRepository.js';
import { pollNow as pollOnce, resultOf } from '../harness/pollNow.js';

const SECRET = 'webhook-test-secret';
let lab: Lab;
let h: WorkflowHarness;
let endpoint: WebhookEndpoint;
let url: string;
let cache: string;
let repo: string;
let renovate: string;
let releases: ReleasesServer;
const atlasQueue = clusterQueueLock('atlas');

/** The Talos releases as the API listed them on the day `last` came out. */
const talosTagsUpTo = (last: string) => TALOS_TAGS.slice(0, TALOS_TAGS.indexOf(`v${last}`) + 1);

const waitForResult = (workflowId: string) => resultOf(h.client, workflowId);

beforeAll(async () => {
  ({ renovate } = await ensureTools('renovate'));
  releases = await startReleasesServer();
  // The user's repository, with Renovate's config, pushed to GitHub and cloned back before init: the
  // worker plans from its clone (the lab's repository) and pull requests are merged on GitHub, so the
  // clone is behind at every merge.
  const renovateConfig = await labRenovateConfig(releases.urlTemplate);
  lab = await startLab('atlas', [], {
    beforeInit: async (labDir) => {
      const clone = join(labDir, 'repo');
      await initRepository(clone, renovateConfig);
      repo = await publishOnLabGitHub(labDir, clone, 'homelab/atlas');
    },
  });
  await atlasQueue.acquire();
  cache = await mkdtemp(join(tmpdir(), 'talos-upgrade-git-'));
  // The worker reads the merges (the webhook only records them), from its mirror of GitHub's copy.
  h = await startWorkflowHarness(
    lab,
    (inventory) => {
      // init read the repository and its default branch from the clone's origin, as a user's clone has it.
      const found = inventory.repository;
      if (found?.github !== 'homelab/atlas' || found.defaultBranch !== 'main')
        throw new Error(`init did not find homelab/atlas@main in the clone: ${JSON.stringify(found)}`);
      // The user's choice of triggers: the webhook, and polling the branch every 5 minutes.
      found.poll = 300_000;
    },
    { repositorySource: labGitHubSource(lab.dir, cache) },
  );
  endpoint = await listenWebhook({
    secret: SECRET,
    inventories: [h.inventory],
    record: deliveryRecorderFor(h.client, h.taskQueue),
    logger: pino({ level: 'silent' }),
    maxBodyBytes: 64 * 1024,
  });
  url = endpoint.url;
}, 900_000);

afterAll(async () => {
  await h?.client.schedule
    .getHandle(pollScheduleId('atlas'))
    .delete()
    .catch(() => undefined);
  await endpoint?.close();
  await h?.endQueue('atlas');
  await atlasQueue.release();
  await h?.stop();
  await lab?.stop();
  await releases?.close();
  if (cache) await rm(cache, { recursive: true, force: true });
});

/** Signed with the webhook's secret unless a signature is given ('' for none). */
async function post(event: string, body: string, signature?: string) {
  const answer = await postDelivery(
    url,
    event,
    body,
    signature === undefined ? await sign(SECRET, body) : signature || undefined,
  );
  return {
    status: answer.status,
    body: JSON.parse(answer.text) as { message: string; workflowIds?: string[] },
  };
}

const git = (args: string[]) =>
  execa('git', ['-C', repo, '-c', 'user.name=t', '-c', 'user.email=t@t.invalid', ...args]);

/** GitHub's push delivery for the default branch moving from `before` to `after`. */
const pushed = (before: string, after: string) =>
  post(
    'push',
    JSON.stringify({
      ref: 'refs/heads/main',
      before,
      after,
      repository: { full_name: 'homelab/atlas', default_branch: 'main' },
      pusher: { name: 'alice' },
    }),
  );

const queueState = () => h.client.workflow.getHandle(queueWorkflowId('atlas')).query(queueQuery);

describe('the GitHub webhook', () => {
  it('answers ping and /healthz', async () => {
    expect(await post('ping', JSON.stringify({ zen: 'Keep it logically awesome.', hook_id: 1 }))).toEqual({
      status: 200,
      body: { message: 'pong', zen: 'Keep it logically awesome.' },
    });
    expect((await fetch(url.replace('/webhook', '/healthz'))).status).toBe(200);
  });

  it("Renovate's pull request bumping talos_version, delivered three times with its push, starts exactly one run", async () => {
    releases.setTags('siderolabs/talos', talosTagsUpTo('1.11.4'));
    const branch = await renovatePullRequest(repo, renovate, bumpsTalosTo('1.11.4'));
    expect(branch.labels.sort()).toEqual(['talos-patch', 'talos-upgrade']);
    const merged = await mergeRenovateBranch(repo, 7, branch);
    const push = await pushed(merged.base, merged.merge);
    expect(push.status).toBe(202);
    const deliveries = [];
    for (let i = 0; i < 3; i++)
      deliveries.push(
        await deliverMergedPullRequest({
          url,
          secret: SECRET,
          repository: 'homelab/atlas',
          number: 7,
          title: branch.prTitle,
          base: merged.base,
          merge: merged.merge,
          labels: branch.labels,
        }),
      );
    const runId = `talos-upgrade:atlas:${merged.merge}`;
    for (const d of deliveries) {
      expect(d.status).toBe(202);
      expect((JSON.parse(d.body) as { workflowIds: string[] }).workflowIds).toEqual([runId]);
    }
    const result = await waitForResult(runId);
    expect(result.outcome).toBe('succeeded');
    expect(result.talos).toEqual({ from: '1.11.3', to: '1.11.4' });
    expect(result.hops).toEqual([
      { from: '1.11.3', to: '1.11.4', strategy: 'pets', reason: 'policy: patch upgrades run as pets' },
    ]);
    const runs = [];
    for await (const run of h.client.workflow.list({
      // Other suites upgrade clusters named atlas on the same server: only this test's task queue counts.
      query: `WorkflowType = 'clusterUpgrade' AND TaskQueue = '${h.taskQueue}'`,
    }))
      runs.push(run.workflowId);
    expect(runs).toEqual([runId]);
    expect((await labStatus(lab)).every((row) => row.talos === '1.11.4')).toBe(true);
    // The worker's clone was behind GitHub, and the run brought it to the merge.
    const clone = join(lab.dir, 'repo');
    expect((await execa('git', ['-C', clone, 'rev-parse', 'HEAD'])).stdout.trim()).toBe(merged.merge);
  }, 600_000);

  it('a Renovate pull request labelled both upgrade-pets and upgrade-cattle upgrades by the policy, and says so', async () => {
    // The seed's own rules (a label per update type, no separateMinorPatch) and a second cluster's
    // variable in the same file: Renovate puts atlas's patch and staging's minor in ONE branch.
    const config = await labRenovateConfig(releases.urlTemplate);
    const talosRule = (updateTypes: string[], label: string) => ({
      matchDepNames: ['siderolabs/talos'],
      matchUpdateTypes: updateTypes,
      labels: [label, 'dependencies', 'talos'],
    });
    config.packageRules = [
      talosRule(['patch'], 'upgrade-pets'),
      talosRule(['minor', 'major'], 'upgrade-cattle'),
    ];
    await writeFile(join(repo, 'renovate.json'), `${JSON.stringify(config, null, 2)}\n`);
    const variables = join(repo, 'terraform', 'variables.tf');
    await writeFile(
      variables,
      `${await readFile(variables, 'utf8')}\n# The staging cluster's version lives here too.\nvariable "staging_talos_version" {\n  type    = string\n  default = "1.10.8"\n}\n`,
    );
    await gitAsRenovate(repo, ['add', '-A']);
    await gitAsRenovate(repo, [
      'commit',
      '--quiet',
      '-m',
      'Renovate rules from the old runbook; staging versions',
    ]);
    releases.setTags('siderolabs/talos', talosTagsUpTo('1.11.5'));

    const branch = await renovatePullRequest(repo, renovate, bumpsTalosTo('1.11.5'));
    expect(new Set(branch.upgrades.map((u) => u.updateType))).toEqual(new Set(['patch', 'minor']));
    expect(branch.labels).toEqual(expect.arrayContaining(['upgrade-pets', 'upgrade-cattle']));
    const merged = await mergeRenovateBranch(repo, 8, branch);
    // The push of the merge first, without labels: the pull request's labels still decide.
    expect((await pushed(merged.base, merged.merge)).status).toBe(202);
    const delivery = await deliverMergedPullRequest({
      url,
      secret: SECRET,
      repository: 'homelab/atlas',
      number: 8,
      title: branch.prTitle,
      base: merged.base,
      merge: merged.merge,
      labels: branch.labels,
    });
    expect(delivery.status).toBe(202);
    const runId = `talos-upgrade:atlas:${merged.merge}`;
    const result = await waitForResult(runId);
    expect(result.outcome).toBe('succeeded');
    expect(result.talos).toEqual({ from: '1.11.4', to: '1.11.5' });
    expect(result.hops).toEqual([
      {
        from: '1.11.4',
        to: '1.11.5',
        strategy: 'pets',
        reason:
          'policy: patch upgrades run as pets (pull request #8: labels upgrade-pets and upgrade-cattle both present: each hop takes the policy strategy)',
      },
    ]);
    // The decision is in the run's history: its input says why the labels asked nothing.
    const history = await h.client.workflow.getHandle(runId).fetchHistory();
    const started = JSON.stringify(
      history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.map((p) =>
        Buffer.from(p.data ?? []).toString(),
      ),
    );
    expect(started).toContain('both present');
    expect((await labStatus(lab)).every((row) => row.talos === '1.11.5')).toBe(true);
  }, 600_000);

  it('refuses a wrong or missing signature with 401', async () => {
    const body = JSON.stringify({ zen: 'x' });
    expect((await post('ping', body, `sha256=${'0'.repeat(64)}`)).status).toBe(401);
    expect((await post('ping', body, await sign('another-secret', body))).status).toBe(401);
    expect((await post('ping', body, '')).status).toBe(401);
  });

  it('records a push that changes no version, and the queue starts no run for it', async () => {
    const before = (await git(['rev-parse', 'HEAD'])).stdout.trim();
    await writeFile(join(repo, 'README.md'), 'the cluster repository\n');
    await git(['add', 'README.md']);
    await git(['commit', '--quiet', '-m', 'docs: readme']);
    const after = (await git(['rev-parse', 'HEAD'])).stdout.trim();
    const answer = await pushed(before, after);
    expect(answer.status).toBe(202);
    const outcome = await eventually(
      'the queue to read the push',
      async () => (await queueState()).recent?.find((r) => r.requestId === after)?.outcome,
      120_000,
    );
    expect(outcome).toMatch(/^nothing-to-do: talos_version and kubernetes_version are unchanged/);
    await expect(h.client.workflow.getHandle(`talos-upgrade:atlas:${after}`).describe()).rejects.toThrow();
  }, 180_000);

  it('a merge delivered while the repository is unreachable for a minute is answered 202 at once and upgraded when it is back', async () => {
    // Renovate's minor bump: its labels ask for cattle (the VMs recreated by Terraform).
    releases.setTags('siderolabs/talos', talosTagsUpTo('1.12.0'));
    const branch = await renovatePullRequest(repo, renovate, bumpsTalosTo('1.12.0'));
    const merged = await mergeRenovateBranch(repo, 9, branch);
    const offline = `${repo}.offline`;
    await rename(repo, offline);
    const outage = Date.now();
    let restored = false;
    try {
      const started = performance.now();
      const delivery = await deliverMergedPullRequest({
        url,
        secret: SECRET,
        repository: 'homelab/atlas',
        number: 9,
        title: branch.prTitle,
        base: merged.base,
        merge: merged.merge,
        labels: branch.labels,
      });
      console.log(
        `webhook answered ${delivery.status} in ${(performance.now() - started).toFixed(1)} ms during the outage`,
      );
      expect(delivery.status).toBe(202);
      const runId = `talos-upgrade:atlas:${merged.merge}`;
      // The queue holds the merge and keeps trying the repository; no run exists yet.
      const reading = await eventually(
        'the queue to retry the unreachable repository',
        async () => {
          const state = await queueState();
          const described = await h.client.workflow.getHandle(queueWorkflowId('atlas')).describe();
          const pending = described.raw.pendingActivities ?? [];
          const failing = pending.find((a) => (a.attempt ?? 0) >= 2 && a.lastFailure?.message);
          return state.reading && failing ? { state, failing } : undefined;
        },
        60_000,
      );
      expect(reading.state.running?.requestId).toBe(merged.merge);
      expect(reading.failing.lastFailure?.message).toMatch(/cannot fetch homelab\/atlas/);
      await expect(h.client.workflow.getHandle(runId).describe()).rejects.toThrow();
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, 60_000 - (Date.now() - outage))));
      await rename(offline, repo);
      restored = true;
      const result = await waitForResult(runId);
      expect(result.outcome).toBe('succeeded');
      expect(result.talos).toEqual({ from: '1.11.5', to: '1.12.0' });
      expect(result.hops.map((hop) => hop.strategy)).toEqual(['cattle']);
      expect((await labStatus(lab)).every((row) => row.talos === '1.12.0')).toBe(true);
    } finally {
      if (!restored) await rename(offline, repo);
    }
  }, 900_000);

  it('answers bad input with a 4xx and a reason, never a 5xx', async () => {
    expect((await post('push', '{not json')).status).toBe(400);
    expect((await post('push', JSON.stringify({ ref: 1 }))).status).toBe(400);
    expect((await post('pull_request', 'x'.repeat(70 * 1024))).status).toBe(413);
    const issues = await post('issues', JSON.stringify({ action: 'opened' }));
    expect(issues).toEqual({ status: 200, body: { message: 'ignored: event issues is not handled' } });
    const unmerged = await post(
      'pull_request',
      JSON.stringify({
        action: 'closed',
        repository: { full_name: 'homelab/atlas', default_branch: 'main' },
        pull_request: { number: 9, merged: false, base: { ref: 'main', sha: 'a'.repeat(40) }, labels: [] },
      }),
    );
    expect(unmerged.body.message).toBe('ignored: pull request #9 was closed without merging');
    // Merged, but into a branch the inventory does not follow (repository.defaultBranch: main).
    const elsewhere = await post(
      'pull_request',
      JSON.stringify({
        action: 'closed',
        repository: { full_name: 'homelab/atlas', default_branch: 'staging' },
        pull_request: {
          number: 10,
          merged: true,
          merge_commit_sha: 'b'.repeat(40),
          base: { ref: 'staging', sha: 'a'.repeat(40) },
          labels: [],
        },
      }),
    );
    expect(elsewhere).toEqual({
      status: 200,
      body: {
        message:
          'ignored: pull request #10 merged into staging: staging is not the branch the inventories of homelab/atlas follow (main: repository.defaultBranch)',
      },
    });
  });
});

describe('the poll trigger (repository.poll), for a homelab GitHub cannot reach', () => {
  /** The clusterUpgrade runs of this test's task queue (other suites run clusters named atlas too). */
  const upgradeRuns = async () => {
    const runs: string[] = [];
    for await (const run of h.client.workflow.list({
      query: `WorkflowType = 'clusterUpgrade' AND TaskQueue = '${h.taskQueue}'`,
    }))
      runs.push(run.workflowId);
    return runs.sort();
  };

  /** The critical notifications the last poll sent (its history's notify activities). */
  let lastPoll: { workflowId: string; runId: string } | undefined;
  async function lastPollNotices(): Promise<string[]> {
    if (!lastPoll) return [];
    const handle = h.client.workflow.getHandle(lastPoll.workflowId, lastPoll.runId);
    return (await notificationsOf(handle)).map((n) => n.message ?? '');
  }

  /** One run of the Schedule's action, now (as its interval would), and what it found. */
  async function pollNow(): Promise<PollState> {
    const { workflowId, runId, found } = await pollOnce(h.client, 'atlas');
    lastPoll = { workflowId, runId };
    return found;
  }

  it('picks up a merge the webhook never saw, once; with both on, a merge is one run', async () => {
    // As the worker does when it starts: the Schedule the inventory asks for, paused here so that only
    // this test's triggers run it (its interval would run the same action).
    const clusters = { atlas: { inventory: h.inventory } };
    expect(await ensurePollSchedules(h.client, clusters, h.taskQueue)).toEqual({ atlas: 'created' });
    expect(await ensurePollSchedules(h.client, clusters, h.taskQueue)).toEqual({ atlas: 'updated' });
    // Another deployment's worker on the namespace (another task queue) whose atlas does not poll: it
    // leaves this Schedule alone (as the other suites' workers, all on one test server, must).
    const notPolling = structuredClone(h.inventory);
    delete notPolling.repository?.poll;
    expect(
      await ensurePollSchedules(h.client, { atlas: { inventory: notPolling } }, `${h.taskQueue}-other`),
    ).toEqual({ atlas: 'foreign' });
    await h.client.schedule.getHandle(pollScheduleId('atlas')).pause('the test triggers each poll');
    const described = await h.client.schedule.getHandle(pollScheduleId('atlas')).describe();
    expect(described.spec.intervals?.map((i) => i.every)).toEqual([300_000]);

    // The first poll notes where the branch is: merges from before polling was turned on are not replayed.
    const head = (await git(['rev-parse', 'HEAD'])).stdout.trim();
    expect(await pollNow()).toEqual({ head, recorded: [] });
    const runsBefore = await upgradeRuns();

    // Renovate's patch, merged, and never delivered: GitHub could not reach the webhook.
    releases.setTags('siderolabs/talos', talosTagsUpTo('1.12.1'));
    const missed = await mergeRenovateBranch(
      repo,
      11,
      await renovatePullRequest(repo, renovate, bumpsTalosTo('1.12.1')),
    );
    // A commit after it that moves no version: read, and not recorded.
    await writeFile(join(repo, 'README.md'), 'the cluster repository, polled\n');
    await git(['commit', '--quiet', '-am', 'docs: polling']);
    const latest = (await git(['rev-parse', 'HEAD'])).stdout.trim();
    expect(await pollNow()).toEqual({ head: latest, recorded: [missed.merge] });
    const result = await waitForResult(`talos-upgrade:atlas:${missed.merge}`);
    expect(result.outcome).toBe('succeeded');
    expect(result.talos).toEqual({ from: '1.12.0', to: '1.12.1' });
    // Polled again, and the webhook delivering it late: nothing new.
    expect(await pollNow()).toEqual({ head: latest, recorded: [] });
    const late = await pushed(missed.base, missed.merge);
    expect(late.status).toBe(202);

    // Both on: the webhook delivers the next merge and the poll finds it before its run is over.
    releases.setTags('siderolabs/talos', talosTagsUpTo('1.12.5'));
    const branch = await renovatePullRequest(repo, renovate, bumpsTalosTo('1.12.5'));
    const both = await mergeRenovateBranch(repo, 12, branch);
    const delivered = await deliverMergedPullRequest({
      url,
      secret: SECRET,
      repository: 'homelab/atlas',
      number: 12,
      title: branch.prTitle,
      base: both.base,
      merge: both.merge,
      labels: branch.labels,
    });
    expect(delivered.status).toBe(202);
    expect(await pollNow()).toEqual({ head: both.merge, recorded: [both.merge] });
    const second = await waitForResult(`talos-upgrade:atlas:${both.merge}`);
    expect(second.outcome).toBe('succeeded');
    expect(second.talos).toEqual({ from: '1.12.1', to: '1.12.5' });
    expect(await upgradeRuns()).toEqual(
      [...runsBefore, `talos-upgrade:atlas:${missed.merge}`, `talos-upgrade:atlas:${both.merge}`].sort(),
    );
    const recent = (await queueState()).recent ?? [];
    expect(recent.filter((r) => r.requestId === missed.merge || r.requestId === both.merge)).toHaveLength(2);
    expect((await labStatus(lab)).every((row) => row.talos === '1.12.5')).toBe(true);
    expect(await lastPollNotices()).toEqual([]);
  }, 900_000);

  it('tells what it cannot do: a failing poll once per outage, a rewritten branch; a dropped cluster loses its Schedule', async () => {
    const head = (await git(['rev-parse', 'HEAD'])).stdout.trim();
    expect(await pollNow()).toEqual({ head, recorded: [] });
    // The branch the inventory names is gone (renamed): a failed poll, told once, keeping the head.
    await git(['branch', '-m', 'main', 'trunk']);
    const failed = await pollNow();
    expect(failed).toMatchObject({ head, recorded: [], failingSince: expect.any(Number) });
    expect(failed.error).toContain('has no branch main: set repository.defaultBranch');
    const [told, ...more] = await lastPollNotices();
    expect(more).toEqual([]);
    expect(told).toContain('polling the repository of atlas failed');
    expect(told).toContain(`every commit since ${head.slice(0, 12)}`);
    expect(await pollNow()).toMatchObject({ head, failingSince: failed.failingSince });
    expect(await lastPollNotices()).toEqual([]);
    // Back: the poll goes on from the last head it read, as if it had never failed.
    await git(['branch', '-m', 'trunk', 'main']);
    await writeFile(join(repo, 'README.md'), 'the cluster repository, polled again\n');
    await git(['commit', '--quiet', '-am', 'docs: polled again']);
    const after = (await git(['rev-parse', 'HEAD'])).stdout.trim();
    expect(await pollNow()).toEqual({ head: after, recorded: [] });

    // Rewritten (a force push over the last commit): nothing before the new head can be listed; told.
    await git(['reset', '--quiet', '--hard', head]);
    await writeFile(join(repo, 'README.md'), 'the cluster repository, rewritten\n');
    await git(['commit', '--quiet', '-am', 'docs: rewritten']);
    const rewritten = (await git(['rev-parse', 'HEAD'])).stdout.trim();
    const noted = await pollNow();
    expect(noted).toMatchObject({ head: rewritten, recorded: [] });
    expect(noted.note).toContain('main was rewritten');
    expect(await lastPollNotices()).toEqual([expect.stringContaining('may not have become an upgrade')]);

    // A worker whose inventories no longer name the cluster removes its Schedule (visibility lists it
    // a moment after it was made).
    await eventually(
      'the poll Schedule to be listed',
      async () => {
        for await (const s of h.client.schedule.list())
          if (s.scheduleId === pollScheduleId('atlas')) return true;
        return undefined;
      },
      30_000,
    );
    expect(await ensurePollSchedules(h.client, {}, `${h.taskQueue}-other`)).toEqual({});
    expect(await ensurePollSchedules(h.client, {}, h.taskQueue)).toEqual({ atlas: 'deleted' });
    await expect(h.client.schedule.getHandle(pollScheduleId('atlas')).describe()).rejects.toThrow(
      /not found/i,
    );
  }, 300_000);
});

describe('a dry run of a merge: start --merge <commit> --dry-run', () => {
  const cli = (args: string[]) =>
    runCli(['start', '--cluster', 'atlas', ...args], {
      env: { TEMPORAL_ADDRESS: testTemporalAddress(), TALOS_UPGRADE_TASK_QUEUE: h.taskQueue },
      timeoutMs: 300_000,
    });

  it("plans a pull request's head before it is merged, touching nothing; a commit that moves no version has nothing to do", async () => {
    // Renovate's branch, pushed and not merged: what would merging it do?
    releases.setTags('siderolabs/talos', talosTagsUpTo('1.12.9'));
    const branch = await renovatePullRequest(repo, renovate, bumpsTalosTo('1.12.9'));
    await gitAsRenovate(repo, ['checkout', '--quiet', '-B', branch.branchName]);
    await applyRenovateBranch(repo, branch);
    await gitAsRenovate(repo, ['commit', '--quiet', '-am', branch.prTitle]);
    const head = (await gitAsRenovate(repo, ['rev-parse', 'HEAD'])).stdout.trim();
    await gitAsRenovate(repo, ['checkout', '--quiet', 'main']);
    const mark = await timelineMark(lab);
    const dry = await cli(['--merge', head.slice(0, 12), '--dry-run']);
    expect(dry.stderr).toContain(`reading ${head.slice(0, 12)} from the cluster's repository`);
    expect(dry.stdout).toMatch(
      /1\. Talos 1\.12\.5 -> 1\.12\.9 {2}pets {2}\(policy: patch upgrades run as pets\)/,
    );
    expect(dry.stdout).toMatch(/✅ dry-run: pre-flight passed: .*Nothing was touched\./);
    expect(dry.exitCode).toBe(0);
    expect((await eventsSince(lab, mark)).filter((e) => TOUCHING.has(e.kind))).toEqual([]);
    expect((await labStatus(lab)).every((row) => row.talos === '1.12.5')).toBe(true);

    // A commit of main that moves no version.
    await writeFile(join(repo, 'README.md'), 'the cluster repository, dry run\n');
    await git(['commit', '--quiet', '-am', 'docs: a dry run']);
    const docs = (await git(['rev-parse', 'HEAD'])).stdout.trim();
    const none = await cli(['--merge', docs, '--dry-run']);
    expect(none.stdout).toMatch(new RegExp(`ℹ nothing-to-do: ${docs.slice(0, 12)} moves no version`));
    expect(none.exitCode).toBe(0);
    // `list` shows a merge's dry run among the runs.
    const dryRunId = /dry run (\S+):/.exec(none.stderr)?.[1];
    expect(dryRunId).toMatch(/^talos-upgrade:atlas:/);
    const listed = await eventually('list to show the dry run', async () => {
      const shown = await runCli(['list', '--cluster', 'atlas', '--limit', '200'], {
        env: { TEMPORAL_ADDRESS: testTemporalAddress() },
      });
      return shown.stdout.split('\n').find((line) => line.includes(dryRunId ?? ''));
    });
    expect(listed).toMatch(/ a merge +dry run +completed /);

    // Refused before anything is sent: without --dry-run, with --to, a commit the repository lacks.
    const real = await cli(['--merge', docs]);
    expect(real.stderr).toMatch(/--merge is for a dry run \(add --dry-run\)/);
    expect(real.exitCode).not.toBe(0);
    const both = await cli(['--merge', docs, '--to', '1.12.9', '--dry-run']);
    expect(both.stderr).toMatch(/drop --to/);
    const unknown = await cli(['--merge', 'deadbeefdeadbeef', '--dry-run']);
    expect(unknown.stdout).toMatch(
      /❌ dry run of deadbeefdeadbeef on atlas: .*has no commit deadbeefdeadbeef/,
    );
    expect(unknown.exitCode).toBe(1);
  }, 600_000);
});
