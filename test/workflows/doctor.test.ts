import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parseDocument } from 'yaml';
import { runCli } from '../cli/runCli.js';
import { workerEnvOf } from '../harness/workerEnv.js';
import { initInventory } from '../harness/initCli.js';
import { publishOnLabGitHub } from '../../lab/github/gitHost.js';
import { startLab, type Lab } from '../lab/labHarness.js';
import { eventsSince, labStatus, timelineMark, TOUCHING } from './labViews.js';
import { startWorkflowHarness, type WorkflowHarness } from './workflowHarness.js';

/**
 * `talos-upgrade doctor` on atlas, from the inventory init wrote: every check passes; then each thing
 * the lab can break, one at a time, fails its own check and names the fix. The doctor runs with the
 * worker's configuration (environment and inventory), as a user runs it beside the worker.
 */
let lab: Lab;
let h: WorkflowHarness;
let generated: string;
beforeAll(async () => {
  lab = await startLab('atlas');
  generated = await initInventory(lab);
  // A worker polling a task queue of the test server, with the generated inventory.
  h = await startWorkflowHarness({ ...lab, env: { ...lab.env, TALOS_UPGRADE_INVENTORY: generated } });
}, 900_000);
afterAll(async () => {
  await h?.stop();
  await lab?.stop();
});

/** The worker's environment: its Temporal task queue, credentials and tools. */
const workerEnv = () => workerEnvOf(lab, h.taskQueue);

/** Runs the doctor with the worker's environment against `inventory`, and its JSON report. */
async function doctor(inventory: string, env: Record<string, string> = {}) {
  // doctor plans every node with Terraform and reads every node: on a loaded machine (two full runs at
  // once, 2026-11-29) it took over the CLI's default minute.
  const result = await runCli(['doctor', '--inventory', inventory, '--json'], {
    env: { ...workerEnv(), ...env },
    timeoutMs: 150_000,
  });
  const checks = JSON.parse(result.stdout || '[]') as Array<{
    check: string;
    ok: boolean;
    detail: string;
    fix?: string;
  }>;
  return { ...result, checks, failed: checks.filter((c) => !c.ok) };
}

/** A copy of the generated inventory beside it (relative paths hold), changed by `edit`. */
async function variant(name: string, edit: (doc: ReturnType<typeof parseDocument>) => void): Promise<string> {
  const doc = parseDocument(await readFile(generated, 'utf8'));
  edit(doc);
  const file = join(lab.dir, 'repo', `${name}.yaml`);
  await writeFile(file, doc.toString());
  return file;
}

/** talos-wk-1 is the fourth node init writes (controllers first, then workers by name). */
const WK1 = 3;

describe('doctor', () => {
  it('passes every check on the cluster init described', async () => {
    const result = await doctor(generated);
    expect(result.failed).toEqual([]);
    expect(result.exitCode).toBe(0);
    expect(result.checks.map((c) => c.check)).toEqual([
      'temporal',
      'kubernetes nodes',
      'kubernetes permissions',
      ...['talos-cp-1', 'talos-cp-2', 'talos-cp-3', 'talos-wk-1', 'talos-wk-2'].map((n) => `talos ${n}`),
      'etcd',
      'terraform state',
      'terraform plan',
      'config contract',
      'versions file',
      'machine configs',
      'rebuilt kernel arguments',
      'installers',
      'extensions',
      'backups',
      'release list',
      'next installers',
    ]);
    // The releases Renovate would propose next: 1.11's newest patch and 1.12's.
    expect(result.checks.find((c) => c.check === 'next installers')?.detail).toMatch(
      /installers of Talos 1\.11\.5 and 1\.12\.9 exist/,
    );
  }, 180_000);

  it('reads the repository a merge is read from, as the worker would (repository.github, TALOS_UPGRADE_SOURCE)', async () => {
    // The user's repository, pushed to GitHub and cloned back: init finds it and its default branch in
    // the clone's origin, and the doctor reads it through the worker's source (git mirrors of GitHub).
    await publishOnLabGitHub(lab.dir, join(lab.dir, 'repo'), 'homelab/atlas');
    const published = await initInventory(lab, 'published.yaml');
    const text = await readFile(published, 'utf8');
    expect(parseDocument(text).toJS()).toMatchObject({
      repository: { github: 'homelab/atlas', defaultBranch: 'main' },
    });
    const passing = await doctor(published);
    expect(passing.checks.find((c) => c.check === 'repository')).toMatchObject({
      ok: true,
      detail: expect.stringMatching(
        /^homelab\/atlas@main \([0-9a-f]{12}\) read through git mirrors .*: \S+ is there$/,
      ),
    });
    expect(passing.failed).toEqual([]);
    // The branch merges land on, named wrong.
    const trunk = join(lab.dir, 'repo', 'repository-trunk.yaml');
    const doc = parseDocument(text);
    doc.setIn(['repository', 'defaultBranch'], 'trunk');
    await writeFile(trunk, doc.toString());
    const wrong = await doctor(trunk);
    expect(wrong.exitCode).toBe(1);
    expect(wrong.failed.map((c) => c.check)).toEqual(['repository']);
    expect(wrong.failed[0]).toMatchObject({
      detail: expect.stringMatching(
        /^homelab\/atlas@trunk through git mirrors .*: homelab\/atlas has no branch trunk$/,
      ),
      fix: 'set repository.defaultBranch to the branch merges land on',
    });
  }, 180_000);

  it('--notify-test: a test notification to every target, whatever events it takes; a failing target named with its fix', async () => {
    const received: Array<{ path: string; body: Record<string, unknown> }> = [];
    const server = createServer((request, response) => {
      let text = '';
      request.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
      request.on('end', () => {
        received.push({ path: request.url ?? '', body: JSON.parse(text || '{}') as Record<string, unknown> });
        response.writeHead(request.url === '/broken' ? 500 : 204).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const targets = (...paths: string[]) =>
        variant(`notify-${paths.length}`, (d) =>
          d.set(
            'notifications',
            paths.map((path, i) => ({
              type: 'webhook',
              url: { env: `NOTIFY_URL_${i}` },
              events: ['rollback'],
            })),
          ),
        );
      const urls = (...paths: string[]) =>
        Object.fromEntries(paths.map((p, i) => [`NOTIFY_URL_${i}`, `${base}${p}`]));
      // Without the flag nothing is sent.
      const quiet = await doctor(await targets('/hook'), urls('/hook'));
      expect(quiet.checks.map((c) => c.check)).not.toContain('notifications');
      expect(received).toEqual([]);
      const sent = await runCli(
        ['doctor', '--inventory', await targets('/hook'), '--json', '--notify-test'],
        {
          env: { ...workerEnv(), ...urls('/hook') },
        },
      );
      const checks = JSON.parse(sent.stdout || '[]') as Array<{ check: string; ok: boolean; detail: string }>;
      expect(checks.find((c) => c.check === 'notifications')).toMatchObject({
        ok: true,
        detail: 'a test notification delivered to each of 1 target(s)',
      });
      expect(sent.exitCode).toBe(0);
      expect(received).toEqual([
        {
          path: '/hook',
          body: expect.objectContaining({ event: 'test', cluster: 'atlas', source: 'talos-upgrade' }),
        },
      ]);
      // Two targets, one answering 500: named, with the fix; the URL itself is never printed.
      const broken = await runCli(
        ['doctor', '--inventory', await targets('/hook', '/broken'), '--notify-test'],
        { env: { ...workerEnv(), ...urls('/hook', '/broken') } },
      );
      expect(broken.exitCode).toBe(1);
      expect(broken.stdout).toMatch(
        /❌ atlas · notifications: webhook #2: HTTP 500 \(1 of 2 delivered\)\n {3}fix: check each failing target/,
      );
      expect(broken.stdout).not.toContain(base);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  }, 180_000);

  /**
   * Each thing the lab can break, with the check that must fail on it. They are broken a group at a
   * time, one doctor run per group (each run plans every node and reads every node: 20-30 s), in
   * groups whose breaks touch different checks: one group's break never changes what another check
   * of the same group is asserted to say.
   */
  const failures: Array<{
    group: 'env' | 'inventory' | 'node' | 'schematic' | 'extensions';
    check: string;
    what: string;
    breaks: () => Promise<{
      edit?: (doc: ReturnType<typeof parseDocument>) => void;
      env?: Record<string, string>;
      undo?: () => Promise<unknown>;
    }>;
    detail: RegExp;
    fix: RegExp;
    /** A check the same break must leave passing, and what it then says. */
    passes?: { check: string; detail: RegExp };
  }> = [
    {
      group: 'env',
      check: 'temporal',
      what: 'no worker polls the task queue',
      breaks: async () => ({ env: { TALOS_UPGRADE_TASK_QUEUE: 'nobody-polls-this' } }),
      detail: /no worker polls nobody-polls-this/,
      fix: /talos-upgrade worker --inventory/,
    },
    {
      group: 'inventory',
      check: 'kubernetes nodes',
      what: 'a node named otherwise than its Kubernetes Node',
      breaks: async () => ({
        edit: (d) => d.setIn(['nodes', WK1, 'name'], 'talos-wk-9'),
      }),
      detail: /no Node named talos-wk-9/,
      fix: /Kubernetes Node name/,
    },
    {
      group: 'node',
      check: 'talos talos-wk-1',
      what: 'a NIC named as Linux elsewhere names it, not as Talos names it on this VM (ens18)',
      breaks: async () => ({
        edit: (d) => d.setIn(['nodes', WK1, 'nics', 0, 'name'], 'eth0'),
      }),
      detail: /eth0 is missing/,
      fix: /talosctl get links/,
    },
    {
      group: 'node',
      check: 'talos talos-wk-1',
      what: 'a kernel argument the node does not boot with',
      breaks: async () => ({
        edit: (d) => d.setIn(['nodes', WK1, 'kernelArgs'], ['nosmt']),
      }),
      detail: /booted without the kernel arguments nosmt/,
      fix: /talosctl get kernelcmdlines/,
    },
    {
      group: 'node',
      check: 'rebuilt kernel arguments',
      what: 'a kernel argument the schematic a rebuilt VM boots does not carry',
      breaks: async () => ({
        edit: (d) => d.setIn(['nodes', WK1, 'kernelArgs'], ['nosmt']),
      }),
      detail: /talos-wk-1 would boot without nosmt \(schematic 4a0d65c669d4… has no such extraKernelArgs\)/,
      fix: /customization\.extraKernelArgs/,
    },
    {
      group: 'schematic',
      check: 'talos talos-wk-1',
      what: 'a schematic other than the one the node runs',
      breaks: async () => ({
        edit: (d) => d.setIn(['nodes', WK1, 'schematic'], 'b'.repeat(64)),
      }),
      detail: /runs schematic 4a0d65c6\w+, the inventory says bbbb/,
      fix: /give the node its own schematic/,
    },
    {
      group: 'inventory',
      check: 'talos talos-wk-2',
      what: 'an address where no Talos answers',
      breaks: async () => ({
        edit: (d) => d.setIn(['nodes', WK1 + 1, 'ip'], '127.0.0.2'),
      }),
      detail: /talosctl could not read the Talos version of talos-wk-2 \(127\.0\.0\.2\)/,
      fix: /is the node's address/,
    },
    {
      group: 'node',
      check: 'etcd',
      what: 'an unhealthy etcd member',
      breaks: async () => {
        await lab.addFault('etcd-unhealthy', { node: 'talos-cp-2' });
        return { undo: () => lab.clearFaults('etcd-unhealthy') };
      },
      detail: /2\/3 members healthy/,
      fix: /talosctl -n <node> logs etcd/,
    },
    {
      group: 'env',
      check: 'terraform state',
      what: 'a Terraform address not in the state',
      breaks: async () => ({
        edit: (d) => d.setIn(['nodes', WK1, 'terraformAddress'], 'module.vms["talos-wk-1"]'),
      }),
      detail: /not in the state: module\.vms\["talos-wk-1"\] \(talos-wk-1\)/,
      fix: /terraform state list/,
    },
    {
      group: 'schematic',
      check: 'terraform plan',
      what: 'Terraform files that drifted from what runs',
      breaks: async () => {
        const module = join(lab.dir, 'repo', 'terraform', 'modules', 'node', 'main.tf');
        const text = await readFile(module, 'utf8');
        await writeFile(module, text.replace('cores = 4', 'cores = 6'));
        return { undo: () => writeFile(module, text) };
      },
      detail:
        /at Talos 1\.11\.3, Terraform would change: module\.nodes\["talos-cp-1"\]\.proxmox_virtual_environment_vm\.vm/,
      fix: /make the Terraform files match what runs/,
    },
    {
      group: 'extensions',
      check: 'versions file',
      what: 'a versions file that says another version than the nodes run',
      breaks: async () => {
        const file = join(lab.dir, 'repo', 'terraform', 'variables.tf');
        const text = await readFile(file, 'utf8');
        await writeFile(file, text.replace('default = "1.11.3"', 'default = "1.11.4"'));
        return { undo: () => writeFile(file, text) };
      },
      detail: /says Talos 1\.11\.4, the nodes run 1\.11\.3/,
      fix: /keep talos_version in terraform\/variables\.tf at the version the nodes run/,
    },
    {
      group: 'inventory',
      check: 'machine configs',
      what: 'a machine config file that is not there',
      breaks: async () => ({
        edit: (d) => d.setIn(['machineConfigs', 'worker'], '/nonexistent/worker.yaml'),
      }),
      detail: /\/nonexistent\/worker\.yaml/,
      fix: /point machineConfigs at the files talosctl gen config wrote/,
    },
    {
      group: 'inventory',
      check: 'installers',
      what: 'no installer image of the running version',
      breaks: async () => {
        await lab.addFault('image-missing');
        return { undo: () => lab.clearFaults('image-missing') };
      },
      detail: /no installer image for Talos 1\.11\.3/,
      fix: /images\.installer/,
    },
    {
      // Said once, in the node's row: the extensions check leaves out a node whose row names its schematic.
      group: 'extensions',
      check: 'talos talos-wk-1',
      what: "a node given another schematic than it runs (prox-ops's controllers', without i915): said in its row, not again in extensions",
      breaks: async () => ({
        edit: (d) =>
          d.setIn(
            ['nodes', WK1, 'schematic'],
            '366fd68945d42e0b6428f65068c83c2c3c08e3afb0e3bc3f00e04b28e2ad0ce2',
          ),
      }),
      detail: /it runs schematic 4a0d65c669d4[0-9a-f]{52}, the inventory says 366fd68945d4[0-9a-f]{52}/,
      fix: /give the node its own schematic: 4a0d65c669d4[0-9a-f]{52} \(a pets upgrade would install the other\)/,
      passes: {
        check: 'extensions',
        detail: /^every node but talos-wk-1 \(another schematic: see talos talos-wk-1\)/,
      },
    },
    {
      group: 'extensions',
      check: 'next installers',
      what: 'no installer of the minor Renovate would propose next',
      breaks: async () => {
        await lab.addFault('image-missing', { version: '1.12.9' });
        return { undo: () => lab.clearFaults('image-missing') };
      },
      detail: /1\.12\.9: .*no installer image for Talos 1\.12\.9/,
      fix: /images\.installer and each schematic/,
    },
    {
      group: 'schematic',
      check: 'next installers',
      what: 'a registry that does not answer (told apart from an image it does not have)',
      breaks: async () => ({
        edit: (d) => d.setIn(['images', 'installer'], '127.0.0.1:9/nocloud-installer/{schematic}:v{version}'),
      }),
      detail: /1\.11\.5: checking 127\.0\.0\.1:9\/nocloud-installer\/[0-9a-f]{64}:v1\.11\.5: /,
      fix: /the registry did not answer: check that this machine reaches/,
    },
    {
      group: 'inventory',
      check: 'release list',
      what: 'a list of its own without a release of the minor the nodes run',
      breaks: async () => ({
        edit: (d) => d.setIn(['versions', 'releases'], ['1.12.0', '1.12.9']),
      }),
      detail:
        /2 Talos releases in versions\.releases \(newest 1\.12\.9\), none of them a 1\.11\.x release although the nodes run 1\.11\.3/,
      fix: /bring the list up to date: versions\.releases in the inventory/,
    },
    {
      group: 'env',
      check: 'release list',
      what: "GitHub's releases API out of reach",
      breaks: async () => ({ env: { TALOS_UPGRADE_RELEASES_API_URL: 'http://127.0.0.1:9' } }),
      detail: /GitHub did not answer for the releases of siderolabs\/talos/,
      fix: /TALOS_UPGRADE_RELEASES_API_URL.*versions\.releases/,
    },
    {
      group: 'inventory',
      check: 'backups',
      what: 'a backups directory the worker cannot write',
      // A file where the directory should be: refused even to root, as the tests may run.
      breaks: async () => ({
        edit: (d) => d.setIn(['backups', 'directory'], join(generated, 'backups')),
      }),
      detail: /generated\.yaml is not a directory/,
      fix: /let the worker's user write/,
    },
  ];

  const groups = [...new Set(failures.map((f) => f.group))].map((group) => ({
    group,
    members: failures.filter((f) => f.group === group),
  }));

  it.each(groups)(
    'fails each check of the $group group on what breaks it, naming the fix',
    async ({ group, members }) => {
      const broken: Array<Awaited<ReturnType<(typeof failures)[number]['breaks']>>> = [];
      try {
        for (const failure of members) broken.push(await failure.breaks());
        const edits = broken.flatMap((b) => (b.edit ? [b.edit] : []));
        const inventory = edits.length
          ? await variant(group, (doc) => edits.forEach((edit) => edit(doc)))
          : generated;
        const env = Object.assign({}, ...broken.map((b) => b.env ?? {})) as Record<string, string>;
        const result = await doctor(inventory, env);
        expect(result.exitCode).toBe(1);
        for (const { check, what, detail, fix, passes } of members) {
          const failed = result.failed.find((c) => c.check === check);
          expect({ what, detail: failed?.detail, fix: failed?.fix }).toEqual({
            what,
            detail: expect.stringMatching(detail),
            fix: expect.stringMatching(fix),
          });
          if (passes)
            expect({ what, passing: result.checks.find((c) => c.check === passes.check) }).toEqual({
              what,
              passing: expect.objectContaining({ ok: true, detail: expect.stringMatching(passes.detail) }),
            });
        }
      } finally {
        for (const b of broken) await b.undo?.();
      }
    },
    240_000,
  );
});

describe('a dry run: the plan and the whole pre-flight against the live cluster, nothing touched', () => {
  const dryRun = (to: string) =>
    runCli(['start', '--cluster', 'atlas', '--to', to, '--dry-run'], {
      env: workerEnv(),
      timeoutMs: 300_000,
    });

  it('a minor release as cattle: every rebuild proven by its plans, the order said, nothing touched', async () => {
    const mark = await timelineMark(lab);
    const result = await dryRun('1.12.0');
    expect(result.stderr).toMatch(/planning and pre-flight against the live cluster; nothing is touched/);
    expect(result.stdout).toMatch(/1\. Talos 1\.11\.3 -> 1\.12\.0 {2}cattle/);
    // Each node's rebuild, as its saved plans sum it up.
    expect(result.stdout).toContain('Terraform plans of each rebuild (saved, nothing applied):');
    for (const node of ['talos-cp-1', 'talos-cp-2', 'talos-cp-3', 'talos-wk-1', 'talos-wk-2'])
      expect(result.stdout).toMatch(
        new RegExp(
          `  ${node} → Talos 1\\.12\\.0: its destroy destroys \\d+ .*; its create (creates|replaces) \\d+`,
        ),
      );
    expect(result.stdout).toMatch(
      /✅ dry-run: pre-flight passed: installers of Talos 1\.11\.3, 1\.12\.0 present; every node's installer keeps the extensions it loads; .*etcd 3\/3 members healthy; health: .*\. Nothing was touched\. The controllers would go one at a time \(talos-cp-1, talos-cp-2, talos-cp-3\)/,
    );
    expect(result.exitCode).toBe(0);
    expect((await eventsSince(lab, mark)).filter((e) => TOUCHING.has(e.kind))).toEqual([]);
    expect((await labStatus(lab)).every((row) => row.talos === '1.11.3' && !row.cordoned)).toBe(true);
  }, 360_000);

  it('--nodes: the plan and pre-flight of the named nodes only (etcd still all three); names checked first', async () => {
    const mark = await timelineMark(lab);
    const result = await runCli(
      ['start', '--cluster', 'atlas', '--to', '1.12.0', '--nodes', 'talos-wk-1,talos-cp-2', '--dry-run'],
      { env: workerEnv(), timeoutMs: 300_000 },
    );
    expect(result.stdout).toMatch(
      /etcd 3\/3 members healthy; .*Nothing was touched\. Only the nodes named \(talos-wk-1, talos-cp-2\); the others keep what they run\. The controllers would go one at a time \(talos-cp-2\), then the workers, 1 at a time \(talos-wk-1\)/,
    );
    expect(result.exitCode).toBe(0);
    // Only the named nodes' rebuilds were proven.
    expect(result.stdout).toMatch(/ {2}talos-wk-1 → Talos 1\.12\.0: its destroy/);
    expect(result.stdout).toMatch(/ {2}talos-cp-2 → Talos 1\.12\.0: its destroy/);
    for (const other of ['talos-cp-1', 'talos-cp-3', 'talos-wk-2'])
      expect(result.stdout).not.toContain(`  ${other} → Talos`);
    expect((await eventsSince(lab, mark)).filter((e) => TOUCHING.has(e.kind))).toEqual([]);
    // Refused before anything is sent: a name not in the inventory, a Kubernetes target.
    const unknown = await runCli(
      ['start', '--cluster', 'atlas', '--to', '1.11.4', '--nodes', 'talos-wk-9', '--inventory', generated],
      { env: workerEnv() },
    );
    expect(unknown.stderr).toMatch(/--nodes: talos-wk-9 not in the inventory of atlas .*nothing was sent/);
    expect(unknown.exitCode).not.toBe(0);
    const withKubernetes = await runCli(
      ['start', '--cluster', 'atlas', '--to', '1.11.4', '--k8s-to', '1.34.2', '--nodes', 'talos-wk-1'],
      { env: workerEnv() },
    );
    expect(withKubernetes.stderr).toMatch(/a Kubernetes upgrade moves every node/);
    expect(withKubernetes.exitCode).not.toBe(0);
  }, 360_000);

  it('refused by pre-flight: exit 1 with the reason, nothing touched', async () => {
    await lab.addFault('image-missing');
    try {
      const result = await dryRun('1.11.4');
      expect(result.stdout).toMatch(
        /❌ dry run of atlas to Talos 1\.11\.4: pre-flight refused: .*no installer image/,
      );
      expect(result.exitCode).toBe(1);
    } finally {
      await lab.clearFaults('image-missing');
    }
  }, 360_000);
});
