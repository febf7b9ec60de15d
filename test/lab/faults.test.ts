import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  AppsV1Api,
  CustomObjectsApi,
  PatchStrategy,
  PolicyV1Api,
  setHeaderOptions,
  StorageV1Api,
} from '@kubernetes/client-node';
import {
  cephStatus,
  CONTROLLER_SCHEMATIC,
  eventually,
  installerImage,
  nodeReady,
  startLab,
  WORKER_SCHEMATIC,
  type Lab,
} from './labHarness.js';

let lab: Lab;
beforeAll(async () => {
  lab = await startLab('prox-ops');
}, 900_000);
afterAll(async () => lab?.stop());

async function addFault(...args: string[]): Promise<void> {
  const result = await lab.labCli('fault', 'add', ...args);
  if (result.exitCode !== 0) throw new Error(result.stderr);
}

async function clearFaults(): Promise<void> {
  // A clear that failed would leave its faults to break the tests after: said here, where it failed.
  const result = await lab.labCli('fault', 'clear');
  if (result.exitCode !== 0) throw new Error(`talos-lab fault clear failed: ${result.stderr}`);
}

/** kubectl cordon / uncordon, as the API sees it. */
async function cordon(node: string, on: boolean): Promise<void> {
  await lab.core.patchNode(
    { name: node, body: [{ op: 'replace', path: '/spec/unschedulable', value: on }] },
    setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
  );
}

/** The legacy upgrade call of a worker, answered once the node has pulled the installer. */
function upgradeWithoutWait(node: string, version: string) {
  // talosctl 1.13 waits whenever it would drain (the default), --wait=false or not.
  const image = installerImage(lab, version, WORKER_SCHEMATIC);
  return lab.talosctl('-n', lab.ip(node), 'upgrade', '--drain=false', '--wait=false', '--image', image);
}

/** Terraform destroys the node's VM and creates it again (at 1.11.3): it waits in maintenance mode. */
async function recreateVm(node: string, version = '1.11.3'): Promise<void> {
  const tfDir = `${lab.dir}/repo/terraform`;
  const terraform = lab.env.TERRAFORM ?? 'terraform';
  const target = `-target=module.nodes["${node}"]`;
  await lab.run(terraform, ['destroy', '-auto-approve', '-no-color', target], { cwd: tfDir });
  const apply = await lab.run(
    terraform,
    ['apply', '-auto-approve', '-no-color', target, '-var', `talos_version=${version}`],
    { cwd: tfDir },
  );
  expect(apply.exitCode).toBe(0);
}

describe('every fault kind does what it says', () => {
  // First: the app's pod must run on a node that is up. Later tests leave recreated VMs in maintenance
  // mode (nic-missing, foreign-certificate), and a pod still bound to one of those would have its volume
  // "attached" to a machine the cluster's certificates cannot reboot.
  it("volume-detach-stuck: a moved pod's RBD volume stays attached to the node, with the attacher's error, until cleared", async () => {
    const storage = lab.kc.makeApiClient(StorageV1Api);
    const attachments = async () =>
      (await storage.listVolumeAttachment()).items.map((va) => ({
        node: va.spec?.nodeName,
        attached: va.status?.attached,
        deleting: !!va.metadata?.deletionTimestamp,
        error: va.status?.detachError?.message,
      }));
    const appPod = async () =>
      (await lab.core.listNamespacedPod({ namespace: 'apps', labelSelector: 'app=paperless' })).items.find(
        (p) => !p.metadata?.deletionTimestamp && p.spec?.nodeName,
      );
    // kube-controller-manager attached the app's volume where its pod runs; the lab's attacher said so.
    const first = await eventually('the app scheduled', appPod);
    const node = first.spec?.nodeName ?? '';
    expect(await nodeReady(lab, node)).toBe(true);
    await eventually('its volume attached', async () =>
      (await attachments()).some((a) => a.node === node && a.attached && !a.deleting),
    );
    await addFault('volume-detach-stuck', '--node', node);
    // The pod leaves the node, as a drain moves it (cordoned: its replacement goes elsewhere); the
    // controller detaches the volume, the driver cannot.
    await cordon(node, true);
    try {
      await lab.core.deleteNamespacedPod({ name: first.metadata?.name ?? '', namespace: 'apps' });
      await eventually('the detach failing', async () =>
        (await attachments()).some(
          (a) => a.node === node && a.deleting && /DeadlineExceeded/.test(a.error ?? ''),
        ),
      );
      expect((await attachments()).filter((a) => a.node === node)).toHaveLength(1);
      const violationsBefore = await lab
        .api<{ violations: unknown[] }>('/report')
        .then((r) => r.violations.length);
      // A node that goes down now goes down with the volume: the invariant monitor says so.
      const reboot = await lab.talosctl('-n', lab.ip(node), 'reboot', '--wait', '--timeout', '60s');
      expect({ node, exitCode: reboot.exitCode, stderr: reboot.exitCode ? reboot.stderr : '' }).toEqual({
        node,
        exitCode: 0,
        stderr: '',
      });
      const { violations } = await lab.api<{ violations: Array<{ invariant: string; detail: string }> }>(
        '/report',
      );
      // This reboot's only: an earlier test's reboot of the same node may have found the app's volume.
      expect(
        violations
          .slice(violationsBefore)
          .filter((v) => v.invariant === 'powered-off-with-volumes')
          .map((v) => v.detail),
      ).toEqual([`${node} rebooted with 1 volume(s) attached: pvc-paperless-data`]);
      await clearFaults();
      // The attacher's next try detaches it; the new pod's node gets the volume.
      await eventually('the volume detached and attached where the pod went', async () => {
        const now = await attachments();
        const moved = (await appPod())?.spec?.nodeName;
        return !now.some((a) => a.node === node) && now.some((a) => a.node === moved && a.attached);
      });
    } finally {
      await cordon(node, false);
    }
    await eventually('Ceph back to HEALTH_OK', async () => (await cephStatus(lab)).health === 'HEALTH_OK');
  });

  it('not-ready-after-upgrade: the node runs the new Talos but stays NotReady until the next boot', async () => {
    await addFault('not-ready-after-upgrade', '--node', 'k8s-work-3');
    try {
      // machined's machine status is not ready while the kubelet is not: --wait runs out.
      const upgrade = await lab.talosctl(
        '-n',
        lab.ip('k8s-work-3'),
        'upgrade',
        '--image',
        installerImage(lab, '1.11.4', WORKER_SCHEMATIC),
        '--wait',
        '--timeout',
        '6s',
      );
      expect(upgrade.exitCode).toBe(1);
      // talosctl 1.14 resumes the event stream after the reboot from the last event it saw, but shows only
      // its own action's events (action/node.go handleEvents at v1.14.1; 1.13 replayed the boot's machine
      // status, "stage: RUNNING ready: false"). Where the deadline lands decides its last line: the
      // reboot's retries, or the resumed stream cut by the deadline (both seen, the second on a loaded CI).
      expect(upgrade.stderr.trim().split('\n').at(-1)).toMatch(
        /"[\d.]+": unavailable, retrying\.\.\.$|code = DeadlineExceeded/,
      );
      await eventually('k8s-work-3 running v1.11.4', async () =>
        (await lab.talosctl('-n', lab.ip('k8s-work-3'), 'version')).stdout.includes('Tag:         v1.11.4'),
      );
      await new Promise((resolve) => setTimeout(resolve, 3000));
      expect(await nodeReady(lab, 'k8s-work-3')).toBe(false);
    } finally {
      // Rolling back is the next boot: the fault was one-shot (cleared first, should the body have failed
      // before it fired), so the node comes back Ready. In `finally`, because a node left NotReady takes
      // its OSD down and fails the Ceph tests after this one.
      await clearFaults();
      await lab.talosctl(
        '-n',
        lab.ip('k8s-work-3'),
        'upgrade',
        '--image',
        installerImage(lab, '1.11.3', WORKER_SCHEMATIC),
        '--wait',
      );
      await eventually('k8s-work-3 Ready after the rollback', () => nodeReady(lab, 'k8s-work-3'));
    }
  });

  it('boot-fails: Talos falls back to the old version (A/B)', async () => {
    await addFault('boot-fails', '--node', 'k8s-work-6');
    const upgrade = await lab.talosctl(
      '-n',
      lab.ip('k8s-work-6'),
      'upgrade',
      '--image',
      installerImage(lab, '1.11.4', WORKER_SCHEMATIC),
      '--wait',
    );
    expect(upgrade.exitCode).toBe(0);
    expect((await lab.talosctl('-n', lab.ip('k8s-work-6'), 'version')).stdout).toContain(
      'Tag:         v1.11.3',
    );
    await eventually('k8s-work-6 Ready', () => nodeReady(lab, 'k8s-work-6'));
    expect((await lab.core.readNode({ name: 'k8s-work-6' })).status?.nodeInfo?.osImage).toBe(
      'Talos (v1.11.3)',
    );
  });

  it('nic-missing: a recreated VM lacks its last NIC', async () => {
    await addFault('nic-missing', '--node', 'k8s-work-7');
    // At 1.13: a 1.11 or 1.12 maintenance node refuses the Version talosctl 1.14 asks before a `get`.
    await recreateVm('k8s-work-7', '1.13.0');
    // The new VM waits in maintenance mode: only a client without the cluster's certificate reaches it.
    // Without a machine config it has its NICs and no VLAN yet.
    const links = await lab.talosctl('-n', lab.ip('k8s-work-7'), 'get', 'links', '--insecure');
    expect(links.stdout).toMatch(/\beth1\b/);
    expect(links.stdout).not.toContain('eth1.62');
    expect(links.stdout).not.toContain('eth2');
  });

  it('foreign-certificate: a recreated VM is answered by another machine; neither its certificate nor --insecure gets in', async () => {
    // Not an OSD host: its OSD would stay down with the VM gone, and the Ceph tests below start clean.
    await addFault('foreign-certificate', '--node', 'k8s-work-5');
    await recreateVm('k8s-work-5');
    const secure = await lab.talosctl('-n', lab.ip('k8s-work-5'), 'get', 'machinestatus');
    expect(secure.exitCode).not.toBe(0);
    expect(secure.stderr).toContain('certificate signed by unknown authority');
    const insecure = await lab.talosctl('-n', lab.ip('k8s-work-5'), 'get', 'machinestatus', '--insecure');
    expect(insecure.exitCode).not.toBe(0);
    expect(insecure.stdout).not.toContain('maintenance');
    // Not the refusal a real 1.11/1.12 maintenance node gives talosctl 1.14 (its answer, isMaintenanceRefusal).
    expect(insecure.stderr).not.toContain('API is not implemented in maintenance mode');
  });

  it('etcd-unhealthy: its etcd calls hang until the caller gives up, and upgrades of the others are refused', async () => {
    await addFault('etcd-unhealthy', '--node', 'k8s-ctrl-2');
    const talosctl = lab.env.TALOSCTL ?? 'talosctl';
    const status = (nodes: string[]) =>
      lab.run(talosctl, ['-n', nodes.map((n) => lab.ip(n)).join(','), 'etcd', 'status'], {
        timeoutMs: 8_000,
      });
    // machined's local etcd client waits for an etcd that does not listen. talosctl 1.14 asks each node
    // on its own (multiplex.UnaryViaFactory at v1.14.1): the answering member's row is printed, and the
    // hung one holds the command until its deadline (1.13's one apid call lost both).
    const both = await status(['k8s-ctrl-1', 'k8s-ctrl-2']);
    expect(both.timedOut).toBe(true);
    expect(both.stdout).toContain(lab.ip('k8s-ctrl-1'));
    expect(both.stdout).not.toContain(lab.ip('k8s-ctrl-2'));
    expect((await status(['k8s-ctrl-2'])).timedOut).toBe(true);
    const members = await lab.run(talosctl, ['-n', lab.ip('k8s-ctrl-2'), 'etcd', 'members'], {
      timeoutMs: 8_000,
    });
    expect(members.timedOut).toBe(true);
    // Asked alone, a healthy member answers at once.
    const alone = await status(['k8s-ctrl-1']);
    expect(alone.exitCode).toBe(0);
    expect(alone.stdout).toContain(lab.ip('k8s-ctrl-1'));
    const upgrade = await lab.talosctl(
      '-n',
      lab.ip('k8s-ctrl-1'),
      'upgrade',
      '--image',
      installerImage(lab, '1.11.4', CONTROLLER_SCHEMATIC),
    );
    expect(upgrade.exitCode).toBe(1);
    expect(upgrade.stderr).toMatch(
      /error validating etcd for upgrade: etcd member [0-9a-f]{16} is not healthy; all members must be healthy to perform an upgrade/,
    );
    await clearFaults();
    expect((await lab.talosctl('-n', lab.ip('k8s-ctrl-2'), 'etcd', 'status')).exitCode).toBe(0);
  });

  it('promotion-delayed: a recreated control plane joins etcd as a learner and votes only once promoted', async () => {
    // Talos adds a joining member as a learner and promotes it later (services/etcd.go at v1.11.3).
    await addFault('promotion-delayed', '--node', 'k8s-ctrl-3', '--seconds', '8');
    expect((await lab.talosctl('-n', lab.ip('k8s-ctrl-3'), 'etcd', 'leave')).exitCode).toBe(0);
    await recreateVm('k8s-ctrl-3');
    const config = `${lab.dir}/secrets/controlplane.yaml`;
    const applied = await lab.talosctl(
      '-n',
      lab.ip('k8s-ctrl-3'),
      'apply-config',
      '--insecure',
      '-f',
      config,
    );
    expect(applied.exitCode).toBe(0);
    const learnerOf = async (column: 'members' | 'status') => {
      const out = await lab.talosctl(
        '-n',
        lab.ip(column === 'members' ? 'k8s-ctrl-1' : 'k8s-ctrl-3'),
        'etcd',
        column,
      );
      const [header = '', ...rows] = out.stdout.trim().split('\n');
      const at = header.split(/\t|\s{2,}/).indexOf('LEARNER');
      const row = rows.find((r) => r.includes(column === 'members' ? 'k8s-ctrl-3' : lab.ip('k8s-ctrl-3')));
      return row?.split(/\t|\s{2,}/)[at];
    };
    await eventually(
      'k8s-ctrl-3 to join etcd as a learner',
      async () => (await learnerOf('members')) === 'true',
    );
    expect(await learnerOf('status')).toBe('true');
    // Three members, two voters, both healthy: quorum holds, and the monitor counts voters only.
    await eventually(
      'the learner to be promoted',
      async () => (await learnerOf('members')) === 'false',
      60_000,
    );
    expect(await learnerOf('status')).toBe('false');
    const report = JSON.parse((await lab.labCli('report', '--json')).stdout) as {
      timeline: Array<{ kind: string; node?: string; at: string }>;
      violations: Array<{ invariant: string }>;
    };
    const mine = report.timeline.filter((e) => e.node === 'k8s-ctrl-3');
    const joined = mine.filter((e) => e.kind === 'etcd-joined').at(-1);
    const promoted = mine.filter((e) => e.kind === 'etcd-promoted').at(-1);
    expect(joined && promoted).toBeTruthy();
    // The fault's 8 s, not the lab's usual 1 s.
    expect(Date.parse(promoted?.at ?? '') - Date.parse(joined?.at ?? '')).toBeGreaterThanOrEqual(7_500);
    expect(report.violations.filter((v) => v.invariant === 'etcd-quorum')).toEqual([]);
  });

  it('pdb-blocks-drain: a pod pinned to the node that no eviction may touch', async () => {
    await addFault('pdb-blocks-drain', '--node', 'k8s-work-8');
    let podName = '';
    await eventually('the blocker pod to run on k8s-work-8', async () => {
      const pods = await lab.core.listNamespacedPod({
        namespace: 'apps',
        labelSelector: 'app=drain-blocker-k8s-work-8',
      });
      podName =
        pods.items.find((p) => p.status?.phase === 'Running' && p.spec?.nodeName === 'k8s-work-8')?.metadata
          ?.name ?? '';
      return podName !== '';
    });
    let status: number | undefined;
    await lab.core
      .createNamespacedPodEviction({
        name: podName,
        namespace: 'apps',
        body: { metadata: { name: podName, namespace: 'apps' } },
      })
      .catch((error: { code?: number }) => {
        status = error.code;
      });
    expect(status).toBe(429);
    await clearFaults();
    await eventually(
      'the blocker to be gone',
      async () =>
        (
          await lab.core.listNamespacedPod({
            namespace: 'apps',
            labelSelector: 'app=drain-blocker-k8s-work-8',
          })
        ).items.length === 0,
    );
  });

  it('terraform-lock: terraform cannot take the state lock until it is released', async () => {
    await addFault('terraform-lock', '--seconds', '4');
    const tfDir = `${lab.dir}/repo/terraform`;
    const terraform = lab.env.TERRAFORM ?? 'terraform';
    const args = [
      'apply',
      '-auto-approve',
      '-no-color',
      '-target=module.nodes["k8s-work-13"]',
      '-var',
      'talos_version=1.11.3',
    ];
    const locked = await lab.run(terraform, [...args, '-lock-timeout=1s'], { cwd: tfDir });
    expect(locked.exitCode).toBe(1);
    expect(locked.stderr).toContain('Error acquiring the state lock');
    const waited = await lab.run(terraform, [...args, '-lock-timeout=30s'], { cwd: tfDir });
    expect(waited.exitCode).toBe(0);
  });

  it('talosctl-transient: the next k calls fail with a connection error, then it answers', async () => {
    await addFault('talosctl-transient', '--node', 'k8s-work-13', '--times', '2');
    const results = [];
    for (let i = 0; i < 3; i++) results.push(await lab.talosctl('-n', lab.ip('k8s-work-13'), 'version'));
    expect(results.map((r) => r.exitCode)).toEqual([1, 1, 0]);
    expect(results[0]?.stderr).toContain('connect: connection refused');
  });

  it('image-missing: the registry answers 404 for that version, after its token challenge', async () => {
    await addFault('image-missing', '--version', '1.12.0');
    const registry = lab.env.TALOS_LAB_REGISTRY ?? '';
    const path = `/v2/installer/${WORKER_SCHEMATIC}/manifests/v1.12.0`;
    const challenge = await fetch(`${registry}${path}`, { method: 'HEAD' });
    expect(challenge.status).toBe(401);
    const realm = /realm="([^"]+)"/.exec(challenge.headers.get('www-authenticate') ?? '')?.[1] ?? '';
    const { token } = (await (await fetch(realm)).json()) as { token: string };
    const head = (version: string) =>
      fetch(`${registry}/v2/installer/${WORKER_SCHEMATIC}/manifests/v${version}`, {
        method: 'HEAD',
        headers: { Authorization: `Bearer ${token}` },
      });
    expect((await head('1.12.0')).status).toBe(404);
    expect((await head('1.11.4')).status).toBe(200);
    await clearFaults();
    expect((await head('1.12.0')).status).toBe(200);
  });

  it("registry-down: the legacy upgrade's pull retries for Talos's whole budget and fails with every error it saw; nothing moves", async () => {
    await addFault('registry-down', '--node', 'k8s-work-6', '--seconds', '2');
    const started = Date.now();
    const upgrade = await upgradeWithoutWait('k8s-work-6', '1.11.4');
    await clearFaults();
    expect(upgrade.exitCode).toBe(1);
    // go-retry's set: each distinct error on its own line, then the budget's end.
    expect(upgrade.stderr).toMatch(
      /error validating installer image "[^"]+": 2 error\(s\) occurred:\n\tfailed to pull image "[^"]+": failed to resolve reference "[^"]+": unexpected status from HEAD request to \S+: 503 Service Unavailable\n\ttimeout/,
    );
    // The whole budget: Talos's context ends the last wait.
    expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
    expect((await lab.talosctl('-n', lab.ip('k8s-work-6'), 'version')).stdout).toContain(
      'Tag:         v1.11.3',
    );
  });

  it("a legacy upgrade's caller that gives up during the pull: the pull ends with it and the node is never upgraded", async () => {
    const mark = await lab.api<{ timeline: unknown[] }>('/report').then((r) => r.timeline.length);
    await addFault('registry-down', '--node', 'k8s-work-6', '--seconds', '30');
    const image = installerImage(lab, '1.11.4', WORKER_SCHEMATIC);
    const args = ['-n', lab.ip('k8s-work-6'), 'upgrade', '--drain=false', '--wait', '--timeout', '3s'];
    // talosctl's deadline ends the call while the node still pulls: nothing after the wait but, when
    // the stream's reset wins the race with talosctl's own exit, the deadline it ended with.
    const gone = await lab.talosctl(...args, '--image', image);
    expect(gone.exitCode).toBe(1);
    expect(gone.stderr.trim()).toMatch(
      /"[^"]+": waiting for actor ID(\n"[^"]+": rpc error: code = DeadlineExceeded desc = [^\n]+)?$/,
    );
    const timeline = async () =>
      (
        await lab.api<{ timeline: Array<{ kind: string; node?: string; detail?: string }> }>('/report')
      ).timeline
        .slice(mark)
        .filter((e) => e.node === 'k8s-work-6');
    // The node did pull (and fail) before the deadline.
    expect((await timeline()).some((e) => e.kind === 'fault-fired' && e.detail === 'registry-down')).toBe(
      true,
    );
    // The registry is back well within the pull's budget: a pull still going would now get the
    // installer and upgrade the node: its tries come 3.25 and 7.1 s after its start at the lab's scale
    // (a budget of 30 s, go-retry's units of 1/240 of it), the pull then takes the lab's pull time.
    await clearFaults();
    await new Promise((resolve) => setTimeout(resolve, 10_000));
    expect((await timeline()).map((e) => e.kind)).not.toContain('upgrade-started');
    expect((await lab.talosctl('-n', lab.ip('k8s-work-6'), 'version')).stdout).toContain(
      'Tag:         v1.11.3',
    );
  });

  it('registry-down without --node: the registry answers every client 503, the worker too', async () => {
    const registry = lab.env.TALOS_LAB_REGISTRY ?? '';
    const path = `${registry}/v2/installer/${WORKER_SCHEMATIC}/manifests/v1.11.4`;
    await addFault('registry-down', '--node', 'k8s-work-6');
    expect((await fetch(path, { method: 'HEAD' })).status).toBe(401);
    await clearFaults();
    await addFault('registry-down');
    expect((await fetch(path, { method: 'HEAD' })).status).toBe(503);
    await clearFaults();
    expect((await fetch(path, { method: 'HEAD' })).status).toBe(401);
  });

  it('registry-throttled: the next pulls are answered 429, Talos retries with its own backoff and gets the image', async () => {
    const mark = await lab.api<{ timeline: unknown[] }>('/report').then((r) => r.timeline.length);
    await addFault('registry-throttled', '--node', 'k8s-work-6', '--times', '2');
    // The version the node runs: the pull, an install and a reboot, and the node as it was (no OSD on
    // k8s-work-6: Ceph stays clean for the tests after).
    const upgrade = await upgradeWithoutWait('k8s-work-6', '1.11.3');
    expect([upgrade.exitCode, upgrade.stderr]).toEqual([0, expect.any(String)]);
    const events = (
      await lab.api<{ timeline: Array<{ kind: string; node?: string; detail?: string }> }>('/report')
    ).timeline.slice(mark);
    expect(events.filter((e) => e.kind === 'fault-fired').map((e) => [e.node, e.detail])).toEqual([
      ['k8s-work-6', 'registry-throttled'],
      ['k8s-work-6', 'registry-throttled'],
    ]);
    expect(events.some((e) => e.kind === 'upgrade-started' && e.node === 'k8s-work-6')).toBe(true);
    await eventually('k8s-work-6 back and Ready', async () => {
      const events = (await lab.api<{ timeline: Array<{ kind: string; node?: string }> }>('/report'))
        .timeline;
      return (
        events.slice(mark).some((e) => e.kind === 'upgrade-finished' && e.node === 'k8s-work-6') &&
        (await nodeReady(lab, 'k8s-work-6'))
      );
    });
  });

  it('gpu-patch-etc: the GPU patch in the repository writes to /etc/', async () => {
    const file = `${lab.dir}/repo/talos/patches/k8s-work-4/nvidia-gpu.yaml`;
    expect(await readFile(file, 'utf8')).not.toMatch(/path: \/etc\//);
    await addFault('gpu-patch-etc', '--node', 'k8s-work-4');
    expect(await readFile(file, 'utf8')).toMatch(/path: \/etc\/nvidia-container-runtime/);
    await clearFaults();
    expect(await readFile(file, 'utf8')).toContain('/var/etc/nvidia-container-runtime');
  });

  it('workload faults: dns-broken, network-broken, pod-crashloop, gpu-driver-fails and flux-not-ready hold while the node runs their version', async () => {
    // A probe as a health gate starts one: run to completion, pinned to its node.
    const probe = async (node: string, image: string, command: string[]) => {
      const name = `probe-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
      await lab.core.createNamespacedPod({
        namespace: 'default',
        body: {
          metadata: { name },
          spec: {
            restartPolicy: 'Never',
            nodeSelector: { 'kubernetes.io/hostname': node },
            tolerations: [{ operator: 'Exists' }],
            containers: [{ name: 'probe', image, command }],
          },
        },
      });
      const ended = await eventually(`${name} ended`, async () => {
        const pod = await lab.core.readNamespacedPod({ name, namespace: 'default' });
        const phase = pod.status?.phase;
        return phase === 'Succeeded' || phase === 'Failed' ? pod : undefined;
      });
      await lab.core.deleteNamespacedPod({ name, namespace: 'default', gracePeriodSeconds: 0 });
      const state = ended.status?.containerStatuses?.[0]?.state?.terminated;
      return `${ended.status?.phase} ${state?.exitCode}`;
    };
    const lookup = ['nslookup', 'kubernetes.default.svc.cluster.local'];
    const byName = ['curl', '-sk', '--max-time', '10', 'https://kubernetes.default.svc:443/healthz'];
    const byAddress = ['curl', '-sk', '--max-time', '10', 'https://10.96.0.1:443/healthz'];
    const outcomes = async (node: string) => [
      await probe(node, 'busybox:1.37', lookup),
      await probe(node, 'curlimages/curl:8.17.0', byName),
      await probe(node, 'curlimages/curl:8.17.0', byAddress),
      await probe(node, 'busybox:1.37', ['true']),
    ];
    // A version the node does not run: nothing yet (an upgrade to it would bring it).
    await addFault('dns-broken', '--node', 'k8s-work-6', '--version', '1.11.4');
    expect(await outcomes('k8s-work-6')).toEqual(Array(4).fill('Succeeded 0'));
    await clearFaults();
    // The version it runs: busybox nslookup exits 1, curl 6 (no name) and 28 (no connection).
    await addFault('dns-broken', '--node', 'k8s-work-6', '--version', '1.11.3');
    expect(await outcomes('k8s-work-6')).toEqual(['Failed 1', 'Failed 6', 'Succeeded 0', 'Succeeded 0']);
    await addFault('network-broken', '--node', 'k8s-work-6', '--version', '1.11.3');
    expect(await outcomes('k8s-work-6')).toEqual(['Failed 1', 'Failed 6', 'Failed 28', 'Succeeded 0']);
    expect(await outcomes('k8s-work-5')).toEqual(Array(4).fill('Succeeded 0'));
    await clearFaults();
    expect(await outcomes('k8s-work-6')).toEqual(Array(4).fill('Succeeded 0'));

    const crashing = async () =>
      (
        await lab.core.listNamespacedPod({
          namespace: 'kube-system',
          fieldSelector: 'spec.nodeName=k8s-work-6',
        })
      ).items
        .flatMap((p) => p.status?.containerStatuses ?? [])
        .filter((c) => c.state?.waiting?.reason === 'CrashLoopBackOff').length;
    const gpus = async () =>
      (await lab.core.readNode({ name: 'k8s-work-4' })).status?.allocatable?.['nvidia.com/gpu'];
    const apps = async () => {
      const object = (await lab.kc.makeApiClient(CustomObjectsApi).getNamespacedCustomObject({
        group: 'kustomize.toolkit.fluxcd.io',
        version: 'v1',
        namespace: 'flux-system',
        plural: 'kustomizations',
        name: 'apps',
      })) as { status?: { conditions?: Array<{ type: string; status: string; reason?: string }> } };
      const ready = object.status?.conditions?.find((c) => c.type === 'Ready');
      return `${ready?.status} ${ready?.reason}`;
    };
    expect([await crashing(), await gpus(), await apps()]).toEqual([0, '1', 'True ReconciliationSucceeded']);
    await addFault('pod-crashloop', '--node', 'k8s-work-6', '--version', '1.11.3');
    await addFault('gpu-driver-fails', '--node', 'k8s-work-4', '--version', '1.11.3');
    await addFault('flux-not-ready', '--node', 'k8s-work-6', '--version', '1.11.3');
    expect([await crashing(), await gpus(), await apps()]).toEqual([1, '0', 'False HealthCheckFailed']);
    await clearFaults();
    expect([await crashing(), await gpus(), await apps()]).toEqual([0, '1', 'True ReconciliationSucceeded']);
  });

  it("pod-not-ready --daemon-set kube-proxy: Talos's kube-proxy pod on the node runs but is not Ready, and the real controller manager counts it unavailable", async () => {
    const apps = lab.kc.makeApiClient(AppsV1Api);
    const proxy = async () => {
      const ds = await apps.readNamespacedDaemonSet({ name: 'kube-proxy', namespace: 'kube-system' });
      const pods = await lab.core.listNamespacedPod({
        namespace: 'kube-system',
        fieldSelector: 'spec.nodeName=k8s-work-2',
        labelSelector: 'k8s-app=kube-proxy',
      });
      const pod = pods.items[0];
      return {
        available: `${ds.status?.numberAvailable}/${ds.status?.desiredNumberScheduled}`,
        pod: `${pod?.status?.phase} ${pod?.status?.conditions?.find((c) => c.type === 'Ready')?.status}`,
      };
    };
    expect(await proxy()).toEqual({ available: '15/15', pod: 'Running True' });
    await addFault(
      'pod-not-ready',
      '--node',
      'k8s-work-2',
      '--version',
      '1.11.3',
      '--daemon-set',
      'kube-proxy',
    );
    await eventually('kube-proxy counted unavailable', async () =>
      (await proxy()).available === '14/15' ? true : undefined,
    );
    expect(await proxy()).toEqual({ available: '14/15', pod: 'Running False' });
    await clearFaults();
    await eventually('kube-proxy available again', async () =>
      (await proxy()).available === '15/15' ? true : undefined,
    );
  });

  it('ceph-warn: the CephCluster reports HEALTH_WARN with a check that does not clear by itself', async () => {
    await addFault('ceph-warn');
    await eventually('HEALTH_WARN', async () => (await cephStatus(lab)).health === 'HEALTH_WARN');
    expect((await cephStatus(lab)).details).toEqual({
      OSD_NEARFULL: { severity: 'HEALTH_WARN', message: '1 nearfull osd(s)' },
    });
    await clearFaults();
    await eventually('HEALTH_OK', async () => (await cephStatus(lab)).health === 'HEALTH_OK');
  });

  it("Rook-Ceph: an OSD host drained and down degrades Ceph and Rook holds the other hosts' OSDs; back, it recovers", async () => {
    const policy = lab.kc.makeApiClient(PolicyV1Api);
    const budgets = async () =>
      Object.fromEntries(
        (await policy.listNamespacedPodDisruptionBudget({ namespace: 'rook-ceph' })).items.map((p) => [
          p.metadata?.name ?? '',
          Number(p.spec?.maxUnavailable),
        ]),
      );
    expect(await budgets()).toEqual({ 'rook-ceph-osd': 1 });
    const osdOf = async (host: string) =>
      (
        await lab.core.listNamespacedPod({ namespace: 'rook-ceph', labelSelector: 'app=rook-ceph-osd' })
      ).items.find((p) => p.spec?.nodeSelector?.['kubernetes.io/hostname'] === host);
    const mark = await lab.api<{ timeline: unknown[] }>('/report').then((r) => r.timeline.length);
    // A drain: cordon, then the OSD's eviction, which Rook's budget allows for one host.
    await cordon('k8s-work-2', true);
    const pod = await osdOf('k8s-work-2');
    await lab.core.createNamespacedPodEviction({
      name: pod?.metadata?.name ?? '',
      namespace: 'rook-ceph',
      body: { metadata: { name: pod?.metadata?.name, namespace: 'rook-ceph' } },
    });
    await eventually('Ceph degraded with noout', async () =>
      Object.keys((await cephStatus(lab)).details ?? {}).includes('OSD_FLAGS'),
    );
    expect(await cephStatus(lab)).toMatchObject({
      health: 'HEALTH_WARN',
      details: {
        OSD_DOWN: { message: '1 osds down' },
        OSD_HOST_DOWN: { message: '1 host (1 osds) down' },
        OSD_FLAGS: { message: expect.stringContaining('{NOOUT} flags set') },
        PG_DEGRADED: {
          message: expect.stringMatching(/^Degraded data redundancy: \d+\/\d+ objects degraded/),
        },
      },
    });
    expect(await budgets()).toEqual({
      'rook-ceph-osd-host-k8s-work-1': 0,
      'rook-ceph-osd-host-k8s-work-3': 0,
    });
    // Another host's OSD cannot be evicted now: the real API server refuses it (429) under Rook's budget.
    const other = await osdOf('k8s-work-1');
    await eventually('the blocking budget in force', async () => {
      const refused = await lab.core
        .createNamespacedPodEviction({
          name: other?.metadata?.name ?? '',
          namespace: 'rook-ceph',
          dryRun: 'All',
          body: { metadata: { name: other?.metadata?.name, namespace: 'rook-ceph' } },
        })
        .then(
          () => false,
          (error: { code?: number }) => error.code === 429,
        );
      return refused;
    });
    // Back: uncordoned, its OSD runs again; the placement groups recover (ceph-slow-recovery: 6 s).
    await addFault('ceph-slow-recovery', '--seconds', '6');
    await cordon('k8s-work-2', false);
    await eventually('the OSD back', async () => {
      const status = await cephStatus(lab);
      return status.health === 'HEALTH_WARN' && Object.keys(status.details ?? {}).join() === 'PG_DEGRADED';
    });
    const back = Date.now();
    await eventually('HEALTH_OK', async () => (await cephStatus(lab)).health === 'HEALTH_OK', 60_000);
    expect(Date.now() - back).toBeGreaterThanOrEqual(3_000);
    await eventually(
      'the normal budget back',
      async () => JSON.stringify(await budgets()) === '{"rook-ceph-osd":1}',
    );
    await clearFaults();
    const report = await lab.api<{
      timeline: Array<{ kind: string }>;
      violations: Array<{ invariant: string }>;
    }>('/report');
    expect(
      report.timeline
        .slice(mark)
        .filter((e) => e.kind.startsWith('ceph-'))
        .map((e) => e.kind),
    ).toEqual(['ceph-degraded', 'ceph-clean']);
    expect(report.violations.filter((v) => v.invariant === 'ceph-availability')).toEqual([]);
  });

  it('the invariant monitor records two workers down when the policy allows one', async () => {
    const image = installerImage(lab, '1.11.4', WORKER_SCHEMATIC);
    await Promise.all([
      lab.talosctl('-n', lab.ip('k8s-work-15'), 'upgrade', '--image', image, '--wait'),
      lab.talosctl('-n', lab.ip('k8s-work-16'), 'upgrade', '--image', image, '--wait'),
    ]);
    const { stdout } = await lab.labCli('report', '--json');
    const report = JSON.parse(stdout) as {
      ok: boolean;
      violations: Array<{ invariant: string; detail: string }>;
    };
    expect(report.ok).toBe(false);
    expect(
      report.violations.some(
        (v) =>
          v.invariant === 'workers-unavailable' &&
          v.detail.includes('k8s-work-15') &&
          v.detail.includes('k8s-work-16'),
      ),
    ).toBe(true);
  });
});

describe('talos-lab down', () => {
  it('leaves no process behind', async () => {
    const pid = lab.pid;
    await lab.labCli('down');
    const ps = await lab.run('ps', ['-eo', 'pid,pgid,args']);
    const left = ps.stdout
      .split('\n')
      .filter((line) => line.trim().split(/\s+/)[1] === String(pid) || line.includes(lab.dir));
    expect(left).toEqual([]);
  });
});
