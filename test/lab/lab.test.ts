import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { eventually, installerImage, nodeReady, startLab, WORKER_SCHEMATIC, type Lab } from './labHarness.js';

let lab: Lab;
beforeAll(async () => {
  lab = await startLab('prox-ops');
}, 900_000);
afterAll(async () => lab?.stop());

describe('talos-lab up --preset prox-ops', () => {
  it('brings up 15 Ready nodes at Talos v1.11.3, seen with the lab kubectl', async () => {
    const { exitCode, stdout } = await lab.run(lab.env.KUBECTL ?? '', ['get', 'nodes', '-o', 'json']);
    expect(exitCode).toBe(0);
    const nodes = (
      JSON.parse(stdout) as {
        items: Array<{
          metadata: { name: string };
          status: { nodeInfo: { osImage: string }; conditions: Array<{ type: string; status: string }> };
        }>;
      }
    ).items;
    expect(nodes).toHaveLength(15);
    for (const node of nodes) {
      expect(node.status.nodeInfo.osImage).toBe('Talos (v1.11.3)');
      expect(node.status.conditions.find((c) => c.type === 'Ready')?.status).toBe('True');
    }
  });

  it('talos-lab status lists every node with role, versions, NICs and pods', async () => {
    const { exitCode, stdout } = await lab.labCli('status');
    expect(exitCode).toBe(0);
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^NODE\s+ROLE\s+IP\s+TALOS\s+KUBERNETES\s+VM\s+READY\s+CORDONED\s+PODS\s+NICS$/);
    expect(lines).toHaveLength(16);
    expect(stdout).toMatch(
      /k8s-work-4\s+worker\s+10\.20\.67\.7\s+v1\.11\.3\s+v1\.34\.1\s+running\s+yes\s+no\s+\d+\s+eth0,eth1\.62,eth2\.81/,
    );
    expect(stdout).toMatch(/k8s-ctrl-2\s+controlplane\s+10\.20\.67\.2\s+v1\.11\.3/);
  });

  it('runs the workloads: daemon sets everywhere, GPU allocatable, Flux and Ceph objects', async () => {
    const pods = await lab.core.listPodForAllNamespaces();
    const running = pods.items.filter((p) => p.status?.phase === 'Running');
    expect(running.filter((p) => p.metadata?.name?.startsWith('cilium-'))).toHaveLength(15);
    expect(running.some((p) => p.metadata?.name?.startsWith('coredns-'))).toBe(true);
    const gpuNode = await lab.core.readNode({ name: 'k8s-work-14' });
    expect(gpuNode.status?.allocatable?.['nvidia.com/gpu']).toBe('1');
    const custom = lab.kc.makeApiClient(CustomObjectsApi);
    const ceph = (await custom.getNamespacedCustomObject({
      group: 'ceph.rook.io',
      version: 'v1',
      namespace: 'rook-ceph',
      plural: 'cephclusters',
      name: 'rook-ceph',
    })) as { status: { ceph: { health: string } } };
    expect(ceph.status.ceph.health).toBe('HEALTH_OK');
    const kustomizations = (await custom.listNamespacedCustomObject({
      group: 'kustomize.toolkit.fluxcd.io',
      version: 'v1',
      namespace: 'flux-system',
      plural: 'kustomizations',
    })) as { items: Array<{ status: { conditions: Array<{ type: string; status: string }> } }> };
    expect(kustomizations.items.length).toBeGreaterThan(0);
    for (const k of kustomizations.items)
      expect(k.status.conditions[0]).toMatchObject({ type: 'Ready', status: 'True' });
  });

  it('the real API server refuses to evict the PDB-protected pod with 429', async () => {
    const pods = await lab.core.listNamespacedPod({ namespace: 'home-automation' });
    const name = pods.items[0]?.metadata?.name ?? '';
    let status: number | undefined;
    try {
      await lab.core.createNamespacedPodEviction({
        name,
        namespace: 'home-automation',
        body: { metadata: { name, namespace: 'home-automation' } },
      });
    } catch (error) {
      status = (error as { code?: number }).code;
    }
    expect(status).toBe(429);
  });

  it('talosctl version, get links -o json (a stream of objects) and etcd members read like the real ones', async () => {
    const version = await lab.talosctl('-n', '10.20.67.1', 'version');
    expect(version.stdout).toMatch(/Server:\n\tNODE:\s+10\.20\.67\.1\n\tTag:\s+v1\.11\.3/);
    const links = await lab.talosctl('-n', '10.20.67.4', 'get', 'links', '-o', 'json');
    expect(links.stdout.trimStart().startsWith('{')).toBe(true);
    const objects = links.stdout.split(/\n(?=\{)/).map(
      (chunk) =>
        JSON.parse(chunk) as {
          metadata: { id: string };
          spec: { kind: string; vlan?: { vlanID: number } };
        },
    );
    expect(objects.map((o) => o.metadata.id)).toEqual(['lo', 'eth0', 'eth1', 'eth1.62', 'eth2', 'eth2.81']);
    expect(objects.find((o) => o.metadata.id === 'eth2.81')?.spec.vlan?.vlanID).toBe(81);
    const members = await lab.talosctl('-n', '10.20.67.1', 'etcd', 'members');
    expect(members.stdout.split('\n')[0]).toMatch(
      /^NODE\s+ID\s+HOSTNAME\s+PEER URLS\s+CLIENT URLS\s+LEARNER$/,
    );
    expect(members.stdout.trim().split('\n')).toHaveLength(4);
  });

  it("the stand-in's upgrade reboots the node and changes its osImage", async () => {
    const image = installerImage(lab, '1.11.4', WORKER_SCHEMATIC);
    const upgrade = await lab.talosctl(
      '-n',
      '10.20.67.5',
      'upgrade',
      '--image',
      image,
      '--preserve',
      '--wait',
    );
    expect(upgrade.exitCode).toBe(0);
    await eventually('k8s-work-2 Ready again', () => nodeReady(lab, 'k8s-work-2'));
    const node = await lab.core.readNode({ name: 'k8s-work-2' });
    expect(node.status?.nodeInfo?.osImage).toBe('Talos (v1.11.4)');
    expect(node.metadata?.labels?.['topology.kubernetes.io/zone']).toBe('heimdall');
  });

  it('refuses an installer image the registry does not have', async () => {
    const upgrade = await lab.talosctl(
      '-n',
      '10.20.67.6',
      'upgrade',
      '--image',
      installerImage(lab, '1.11.9', WORKER_SCHEMATIC),
    );
    expect(upgrade.exitCode).toBe(1);
    expect(upgrade.stderr).toMatch(
      /10\.20\.67\.6: rpc error: code = Unknown desc = error validating installer image .*not found/,
    );
  });

  it('terraform destroy -target removes exactly that node; apply recreates it at the given version', async () => {
    const tfDir = `${lab.dir}/repo/terraform`;
    const terraform = lab.env.TERRAFORM ?? 'terraform';
    const before = (await lab.core.listNode()).items.length;
    const destroy = await lab.run(
      terraform,
      ['destroy', '-auto-approve', '-no-color', '-target=module.nodes["k8s-work-5"]'],
      { cwd: tfDir },
    );
    expect(destroy.stdout).toContain('Resources: 1 destroyed');
    const after = (await lab.core.listNode()).items.map((n) => n.metadata?.name);
    expect(after).toHaveLength(before - 1);
    expect(after).not.toContain('k8s-work-5');
    const state = await lab.run(terraform, ['state', 'list'], { cwd: tfDir });
    expect(state.stdout).not.toContain('module.nodes["k8s-work-5"]');
    expect(state.stdout).toContain('module.nodes["k8s-work-6"]');

    const apply = await lab.run(
      terraform,
      [
        'apply',
        '-auto-approve',
        '-no-color',
        '-target=module.nodes["k8s-work-5"]',
        '-var',
        'talos_version=1.12.0',
      ],
      { cwd: tfDir },
    );
    expect(apply.stdout).toContain('Resources: 1 added');
    const maintenance = await lab.talosctl('-n', '10.20.67.8', 'get', 'machinestatus', '-o', 'json');
    expect(maintenance.stdout).toContain('"stage": "maintenance"');
    const config = `${lab.dir}/machine.yaml`;
    await lab.run('bash', ['-c', `echo 'machine: {}' > ${config}`]);
    expect(
      (await lab.talosctl('-n', '10.20.67.8', 'apply-config', '--insecure', '-f', config)).exitCode,
    ).toBe(0);
    await eventually(
      'k8s-work-5 to join at 1.12.0',
      async () =>
        (await nodeReady(lab, 'k8s-work-5')) &&
        (await lab.core.readNode({ name: 'k8s-work-5' })).status?.nodeInfo?.osImage === 'Talos (v1.12.0)',
    );
  });

  it('etcd refuses an upgrade that would cost quorum, with the real message', async () => {
    expect((await lab.talosctl('-n', '10.20.67.3', 'etcd', 'leave')).exitCode).toBe(0);
    const upgrade = await lab.talosctl(
      '-n',
      '10.20.67.1',
      'upgrade',
      '--image',
      installerImage(lab, '1.11.4', '366fd68945d42e0b6428f65068c83c2c3c08e3afb0e3bc3f00e04b28e2ad0ce2'),
    );
    expect(upgrade.stderr).toContain(
      'etcd member count(2) is insufficient to maintain quorum if upgrade commences',
    );
  });

  it('upgrade-k8s refuses more than one minor and changes nothing on a dry run', async () => {
    const jump = await lab.talosctl('-n', '10.20.67.1', 'upgrade-k8s', '--to', '1.36.0');
    expect(jump.exitCode).toBe(1);
    expect(jump.stderr).toContain('unsupported upgrade path 1.34->1.36');
    const dry = await lab.talosctl('-n', '10.20.67.1', 'upgrade-k8s', '--to', '1.34.2', '--dry-run');
    expect(dry.exitCode).toBe(0);
    expect((await lab.core.readNode({ name: 'k8s-work-1' })).status?.nodeInfo?.kubeletVersion).toBe(
      'v1.34.1',
    );
  });

  it('talos-lab report --json has the timeline and the final checks', async () => {
    const { stdout } = await lab.labCli('report', '--json');
    const report = JSON.parse(stdout) as {
      timeline: Array<{ kind: string; node?: string }>;
      vms: Array<{ node: string; destroyed: number }>;
    };
    expect(report.timeline.some((e) => e.kind === 'vm-destroyed' && e.node === 'k8s-work-5')).toBe(true);
    expect(report.vms.find((vm) => vm.node === 'k8s-work-5')?.destroyed).toBe(1);
  });
});
