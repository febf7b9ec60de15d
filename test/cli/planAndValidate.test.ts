import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  answerReleases,
  kubernetesReleaseEntries,
  talosReleaseEntries,
} from '../../lab/daemon/githubReleases.js';
import { KUBERNETES_RELEASES, LAB_RELEASES } from '../../lab/state/labState.js';
import { runCli } from './runCli.js';

const examples = fileURLToPath(new URL('../../examples/', import.meta.url));
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'talos-upgrade-cli-'));
  await writeFile(join(dir, 'releases.txt'), '1.11.3\n1.12.0\n1.12.5\n1.13.0\n');
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('talos-upgrade plan', () => {
  it('splits 1.11.3 -> 1.13.0 into two cattle hops through 1.12.5 (--json)', async () => {
    const { exitCode, stdout } = await runCli([
      'plan',
      '--inventory',
      join(examples, 'prox-ops.yaml'),
      '--from',
      '1.11.3',
      '--to',
      '1.13.0',
      '--releases',
      join(dir, 'releases.txt'),
      '--json',
    ]);
    expect(exitCode).toBe(0);
    const plan = JSON.parse(stdout) as { hops: Array<Record<string, unknown>> };
    expect(
      plan.hops.map(({ from, to, strategy, requiresApproval }) => ({ from, to, strategy, requiresApproval })),
    ).toEqual([
      { from: '1.11.3', to: '1.12.5', strategy: 'cattle', requiresApproval: false },
      { from: '1.12.5', to: '1.13.0', strategy: 'cattle', requiresApproval: false },
    ]);
  });

  it('without a list, a jump over minors reads Talos’s and Kubernetes’s releases from GitHub (the lab’s stand-in); unreachable, it says what to give', async () => {
    const github = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const answer = answerReleases(
        url,
        undefined,
        url.pathname === '/repos/kubernetes/kubernetes/releases'
          ? kubernetesReleaseEntries(KUBERNETES_RELEASES)
          : talosReleaseEntries(LAB_RELEASES),
      );
      res.writeHead(answer.status, answer.headers).end(answer.body);
    });
    github.listen(0, '127.0.0.1');
    await once(github, 'listening');
    const api = `http://127.0.0.1:${(github.address() as AddressInfo).port}`;
    const args = [
      'plan',
      '--inventory',
      join(examples, 'prox-ops.yaml'),
      '--from',
      '1.11.3',
      '--to',
      '1.13.0',
      '--json',
    ];
    const withKubernetes = [...args, '--k8s-from', '1.34.1', '--k8s-to', '1.36.6'];
    try {
      const { exitCode, stdout } = await runCli(args, { env: { TALOS_UPGRADE_RELEASES_API_URL: api } });
      expect(exitCode).toBe(0);
      const plan = JSON.parse(stdout) as { hops: Array<{ from: string; to: string }> };
      // Through 1.12's newest release on the list, 1.12.9.
      expect(plan.hops.map(({ from, to }) => [from, to])).toEqual([
        ['1.11.3', '1.12.9'],
        ['1.12.9', '1.13.0'],
      ]);
      // Kubernetes after the Talos hops, through 1.35's newest release (prereleases are not releases).
      const both = await runCli(withKubernetes, { env: { TALOS_UPGRADE_RELEASES_API_URL: api } });
      expect(both.exitCode).toBe(0);
      const steps = (JSON.parse(both.stdout) as { steps: Array<{ type: string; from: string; to: string }> })
        .steps;
      expect(steps.map((s) => `${s.type} ${s.from}->${s.to}`)).toEqual([
        'talos 1.11.3->1.12.9',
        'talos 1.12.9->1.13.0',
        'kubernetes 1.34.1->1.35.4',
        'kubernetes 1.35.4->1.36.6',
      ]);
    } finally {
      await new Promise((resolve) => github.close(resolve));
    }
    const unreachable = await runCli(args, { env: { TALOS_UPGRADE_RELEASES_API_URL: api } });
    expect(unreachable.exitCode).toBe(2);
    expect(unreachable.stderr).toMatch(
      /--releases <file>, or versions\.releases .*GitHub did not answer for the releases of siderolabs\/talos/,
    );
    const withList = [...withKubernetes, '--releases', join(dir, 'releases.txt')];
    const noKubernetes = await runCli(withList, { env: { TALOS_UPGRADE_RELEASES_API_URL: api } });
    expect(noKubernetes.exitCode).toBe(2);
    expect(noKubernetes.stderr).toMatch(
      /--k8s-releases <file>, or versions\.kubernetesReleases .*GitHub did not answer for the releases of kubernetes\/kubernetes/,
    );
  });

  it('prints a readable plan, with v-prefixed versions accepted', async () => {
    const { exitCode, stdout } = await runCli([
      'plan',
      '--inventory',
      join(examples, 'atlas.yaml'),
      '--from',
      'v1.11.3',
      '--to',
      'v1.11.4',
    ]);
    expect(exitCode).toBe(0);
    expect(stdout).toContain('Talos 1.11.3 -> 1.11.4');
    expect(stdout).toMatch(/patch\s+pets/);
    expect(stdout).toContain('Approval: not required.');
  });

  it('refuses a downgrade with exit 2 and no stack trace', async () => {
    const { exitCode, stderr } = await runCli([
      'plan',
      '--inventory',
      join(examples, 'atlas.yaml'),
      '--from',
      '1.11.3',
      '--to',
      '1.10.0',
    ]);
    expect(exitCode).toBe(2);
    expect(stderr).toMatch(/^error: Talos 1\.10\.0 is older than the running 1\.11\.3/);
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  it('refuses a Talos release beyond what this talos-upgrade drives (1.14), saying what to do', async () => {
    const { exitCode, stderr } = await runCli([
      'plan',
      '--inventory',
      join(examples, 'atlas.yaml'),
      '--from',
      '1.13.8',
      '--to',
      '1.14.1',
    ]);
    expect(exitCode).toBe(2);
    expect(stderr).toMatch(
      /--to Talos 1\.14\.1 is outside what this talos-upgrade drives \(Talos 1\.11\.0 to 1\.13\.x.*\): move to a talos-upgrade release that supports Talos 1\.14/,
    );
  });

  it('runs a minor as pets on the cluster without Terraform, and says why', async () => {
    const { exitCode, stdout } = await runCli([
      'plan',
      '--inventory',
      join(examples, 'portkey.yaml'),
      '--from',
      '1.12.3',
      '--to',
      '1.13.0',
    ]);
    expect(exitCode).toBe(0);
    expect(stdout).toMatch(/minor\s+pets .*no Terraform/);
  });

  it('rejects a bad version argument with exit 2', async () => {
    const { exitCode, stderr } = await runCli([
      'plan',
      '--inventory',
      join(examples, 'atlas.yaml'),
      '--from',
      'latest',
      '--to',
      '1.12.0',
    ]);
    expect(exitCode).toBe(2);
    expect(stderr).toContain('--from "latest" is not a version');
  });
});

describe('talos-upgrade start', () => {
  it('refuses --to 1.12 before it sends anything (exit 2, no Temporal needed)', async () => {
    const { exitCode, stderr } = await runCli(['start', '--cluster', 'atlas', '--to', '1.12'], {
      env: { TEMPORAL_ADDRESS: '127.0.0.1:1' },
    });
    expect(exitCode).toBe(2);
    expect(stderr).toMatch(/--to "1\.12" is not a version: expected MAJOR\.MINOR\.PATCH.*nothing was sent/);
  });

  it('refuses a cluster named in none of the inventories', async () => {
    const { exitCode, stderr } = await runCli(
      ['start', '--cluster', 'atlass', '--to', '1.11.4', '--inventory', join(examples, 'atlas.yaml')],
      { env: { TEMPORAL_ADDRESS: '127.0.0.1:1' } },
    );
    expect(exitCode).toBe(2);
    expect(stderr).toMatch(
      /cluster atlass is in none of the inventories \(.*atlas\.yaml name atlas\): nothing was sent/,
    );
  });
});

describe('talos-upgrade init', () => {
  it('refuses a --github that is not owner/name before it reads anything (exit 2, nothing written)', async () => {
    const out = join(dir, 'never.yaml');
    const { exitCode, stderr } = await runCli([
      'init',
      '--github',
      'https://github.com/homelab/atlas',
      '--out',
      out,
    ]);
    expect(exitCode).toBe(2);
    expect(stderr).toMatch(
      /--github https:\/\/github\.com\/homelab\/atlas: give the repository as owner\/name/,
    );
    await expect(readFile(out)).rejects.toThrow(/ENOENT/);
  });
});

describe('talos-upgrade validate', () => {
  it('accepts the three examples', async () => {
    const files = ['prox-ops', 'atlas', 'portkey'].map((name) => join(examples, `${name}.yaml`));
    const { exitCode, stdout } = await runCli(['validate', ...files]);
    expect(exitCode).toBe(0);
    expect(stdout.split('\n')).toHaveLength(3);
  });

  it('rejects prox-ops with a worker eth1 lacking its VLAN id, naming the field path, exit 2', async () => {
    const original = await readFile(join(examples, 'prox-ops.yaml'), 'utf8');
    const broken = original.replace(/(name: k8s-work-13\n(?:.*\n)*?\s+- \{ name: eth1), vlan: 62 \}/, '$1 }');
    expect(broken).not.toBe(original);
    const file = join(dir, 'prox-ops-broken.yaml');
    await writeFile(file, broken);
    const { exitCode, stderr } = await runCli(['validate', file]);
    expect(exitCode).toBe(2);
    expect(stderr).toMatch(
      /prox-ops-broken\.yaml:\d+:\d+: nodes\[11\]\.nics\[1\]\.vlan: required: .*\(node k8s-work-13\)/,
    );
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  it('refuses a cluster the policy recreates (cattle) when its machine configs are not named, exit 2', async () => {
    const original = await readFile(join(examples, 'atlas.yaml'), 'utf8');
    const unconfigured = original.replace(/^machineConfigs:\n(?: {2}.*\n)+/m, '');
    expect(unconfigured).not.toBe(original);
    const file = join(dir, 'atlas-unconfigured.yaml');
    await writeFile(file, unconfigured);
    const { exitCode, stderr } = await runCli(['validate', file]);
    expect(exitCode).toBe(2);
    expect(stderr).toMatch(/machineConfigs\.controlplane: required: the policy recreates VMs \(cattle\)/);
    expect(stderr).toMatch(
      /machineConfigs\.worker: required: .*talos-wk-1, talos-wk-2 would boot with no machine config/,
    );
  });

  it('reports a missing file and a usage mistake with exit 2', async () => {
    expect((await runCli(['validate', join(dir, 'nope.yaml')])).exitCode).toBe(2);
    expect((await runCli(['validate'])).exitCode).toBe(2);
    expect((await runCli(['frobnicate'])).exitCode).toBe(2);
  });

  it('--help exits 0', async () => {
    const { exitCode, stdout } = await runCli(['--help']);
    expect(exitCode).toBe(0);
    expect(stdout).toContain('validate');
    expect(stdout).toContain('plan');
  });
});
