import { writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { AppsV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import {
  cephStatus,
  eventually,
  GPU_SCHEMATIC,
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

/** prox-ops's controllers' schematic (lab/presets/schematics.yaml): the guest agent only. */
const CONTROLLER_SCHEMATIC = '366fd68945d42e0b6428f65068c83c2c3c08e3afb0e3bc3f00e04b28e2ad0ce2';

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
    const escaped = (ip: string) => ip.replace(/\./g, '\\.');
    expect(stdout).toMatch(
      new RegExp(
        `k8s-work-4\\s+worker\\s+${escaped(lab.ip('k8s-work-4'))}\\s+v1\\.11\\.3\\s+v1\\.34\\.1\\s+running\\s+yes\\s+no\\s+\\d+\\s+eth0,eth1\\.62,eth2\\.81`,
      ),
    );
    expect(stdout).toMatch(
      new RegExp(`k8s-ctrl-2\\s+controlplane\\s+${escaped(lab.ip('k8s-ctrl-2'))}\\s+v1\\.11\\.3`),
    );
  });

  it('runs the workloads: daemon sets everywhere, GPU allocatable, Flux and Ceph objects', async () => {
    const pods = await lab.core.listPodForAllNamespaces();
    const running = pods.items.filter((p) => p.status?.phase === 'Running');
    expect(running.filter((p) => p.metadata?.name?.startsWith('cilium-'))).toHaveLength(15);
    expect(running.some((p) => p.metadata?.name?.startsWith('coredns-'))).toBe(true);
    const gpuNode = await lab.core.readNode({ name: 'k8s-work-14' });
    expect(gpuNode.status?.allocatable?.['nvidia.com/gpu']).toBe('1');
    const custom = lab.kc.makeApiClient(CustomObjectsApi);
    expect((await cephStatus(lab)).health).toBe('HEALTH_OK');
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

  it('the real talosctl reads version, links and etcd members through mutual TLS and apid', async () => {
    const client = await lab.talosctl('version', '--client');
    expect(client.stdout).toMatch(/Tag:\s+v1\.14\.1/);
    const cp1 = lab.ip('k8s-ctrl-1');
    const version = await lab.talosctl('-n', cp1, 'version');
    expect(version.stdout).toMatch(
      new RegExp(`Server:\\n\\tNODE:\\s+${cp1.replace(/\./g, '\\.')}\\n\\tTag:\\s+v1\\.11\\.3`),
    );
    const links = await lab.talosctl('-n', lab.ip('k8s-work-1'), 'get', 'links', '-o', 'json');
    expect(links.exitCode).toBe(0);
    const objects = links.stdout.split(/\n(?=\{)/).map(
      (chunk) =>
        JSON.parse(chunk) as {
          metadata: { id: string; type: string };
          spec: { kind: string; index: number; linkIndex: number; vlan?: { vlanID: number } };
        },
    );
    expect(objects.map((o) => o.metadata.id)).toEqual(['eth0', 'eth1', 'eth1.62', 'eth2', 'eth2.81', 'lo']);
    expect(objects[0]?.metadata.type).toBe('LinkStatuses.net.talos.dev');
    expect(objects.find((o) => o.metadata.id === 'eth2.81')?.spec.vlan?.vlanID).toBe(81);
    const members = await lab.talosctl('-n', cp1, 'etcd', 'members');
    expect(members.stdout.split('\n')[0]).toMatch(
      /^NODE\s+ID\s+HOSTNAME\s+PEER URLS\s+CLIENT URLS\s+LEARNER$/,
    );
    expect(members.stdout.trim().split('\n')).toHaveLength(4);
    const status = await lab.talosctl('-n', cp1, 'etcd', 'status');
    expect(status.stdout.split('\n')[0]).toMatch(/LEARNER\s+PROTOCOL\s+STORAGE\s+ERRORS$/);
  });

  // talosctl 1.14 asks each node on its own (cmd/talosctl/cmd/talos/version.go at v1.14.1): the others'
  // versions are printed, the silent one's error follows, and the command fails (1.13 warned and exited 0).
  it('a node that does not answer: version prints the others, names it and fails, as talosctl 1.14 does', async () => {
    await lab.labCli('fault', 'add', 'talosctl-transient', '--node', 'k8s-work-3');
    const version = await lab.talosctl('-n', `${lab.ip('k8s-work-2')},${lab.ip('k8s-work-3')}`, 'version');
    expect(version.exitCode).toBe(1);
    expect(version.stdout).toContain(lab.ip('k8s-work-2'));
    expect(version.stderr).toMatch(
      new RegExp(
        `error getting version from node ${lab.ip('k8s-work-3').replace(/\./g, '\\.')}: rpc error: code = Unavailable`,
      ),
    );
  });

  it('etcd snapshot is a real etcd snapshot: etcdutl inside talosctl reads its hash and revision', async () => {
    const path = `${lab.dir}/snapshot.db`;
    const snapshot = await lab.talosctl('-n', lab.ip('k8s-ctrl-2'), 'etcd', 'snapshot', path);
    expect(snapshot.exitCode).toBe(0);
    expect(snapshot.stdout).toMatch(
      /snapshot info: hash [0-9a-f]{8}, revision \d+, total keys \d+, total size \d+/,
    );
  });

  it('upgrade --wait reboots the node, reports its progress on stderr, and changes its osImage', async () => {
    const image = installerImage(lab, '1.11.4', WORKER_SCHEMATIC);
    const upgrade = await lab.talosctl('-n', lab.ip('k8s-work-2'), 'upgrade', '--image', image, '--wait');
    expect(upgrade.exitCode).toBe(0);
    expect(upgrade.stdout).toBe('');
    expect(upgrade.stderr).toContain('task: stopAllServices action: START');
    expect(upgrade.stderr).toContain('post check passed');
    await eventually('k8s-work-2 Ready again', () => nodeReady(lab, 'k8s-work-2'));
    const node = await lab.core.readNode({ name: 'k8s-work-2' });
    expect(node.status?.nodeInfo?.osImage).toBe('Talos (v1.11.4)');
    expect(node.metadata?.labels?.['topology.kubernetes.io/zone']).toBe('heimdall');
  });

  it('a 1.14 installer refuses a 1.11 host in its own pre-flight: the sequence fails after the services stopped, and the node reboots into 1.11', async () => {
    const image = installerImage(lab, '1.14.1', WORKER_SCHEMATIC);
    const before = await lab.core.readNode({ name: 'k8s-work-3' });
    const upgrade = await lab.talosctl('-n', lab.ip('k8s-work-3'), 'upgrade', '--image', image, '--wait');
    // Answered (the call's image check only runs `installer --help`); the installer exits 4 in the sequence.
    expect(upgrade.exitCode).toBe(1);
    expect(upgrade.stderr).toContain('task: stopServicesForUpgrade action: STOP');
    expect(upgrade.stderr).toContain(
      'sequence error: sequence failed: error running phase 9 in upgrade sequence: task 1/1: failed, task "upgrade" failed: exit code 4',
    );
    // The lab records the installer's refusal once the services stopped, as the node reaches that phase.
    const refusals = async () =>
      (
        await lab.api<{ timeline: Array<{ kind: string; node?: string; detail?: string }> }>('/report')
      ).timeline.filter((e) => e.kind === 'installer-refused' && e.node === 'k8s-work-3');
    expect(
      await eventually('the refusal recorded', async () => (await refusals()).length > 0 && refusals()),
    ).toEqual([
      expect.objectContaining({
        detail: 'pre-flight checks failed: host version 1.11.3 is too old to upgrade to Talos 1.14.1',
      }),
    ]);
    await eventually(
      'k8s-work-3 rebooted, Ready again',
      async () =>
        (await lab.core.readNode({ name: 'k8s-work-3' })).status?.nodeInfo?.bootID !==
          before.status?.nodeInfo?.bootID && (await nodeReady(lab, 'k8s-work-3')),
    );
    expect((await lab.talosctl('-n', lab.ip('k8s-work-3'), 'version')).stdout).toContain(
      'Tag:         v1.11.3',
    );
  });

  it("a GPU worker's drivers are its image's: installed from its role's schematic it loses them and its GPUs, its own brings both back", async () => {
    const extensions = async () => {
      const listed = await lab.talosctl('-n', lab.ip('k8s-work-4'), 'get', 'extensions', '-o', 'json');
      expect(listed.exitCode).toBe(0);
      return listed.stdout
        .split(/\n(?=\{)/)
        .map((text) => JSON.parse(text) as { spec: { metadata: { name: string; version: string } } })
        .map(({ spec }) => `${spec.metadata.name} ${spec.metadata.version}`);
    };
    const gpus = async () =>
      (await lab.core.readNode({ name: 'k8s-work-4' })).status?.allocatable?.['nvidia.com/gpu'];
    // Its config names the workers' installer (it came from the role's config); its image says what it runs.
    expect(await extensions()).toEqual([
      'qemu-guest-agent v1.11.3',
      'nonfree-kmod-nvidia-production v1.11.3',
      'nvidia-container-toolkit-production v1.11.3',
      `schematic ${GPU_SCHEMATIC}`,
      // Talos's imager adds it for the extensions' kernel modules (NVIDIA's).
      'modules.dep 6.12.57-talos',
    ]);
    expect(await gpus()).toBe('1');
    const install = async (schematic: string) => {
      const image = installerImage(lab, '1.11.3', schematic);
      const upgrade = await lab.talosctl('-n', lab.ip('k8s-work-4'), 'upgrade', '--image', image, '--wait');
      expect(upgrade.exitCode).toBe(0);
      await eventually('k8s-work-4 Ready again', () => nodeReady(lab, 'k8s-work-4'));
    };
    await install(WORKER_SCHEMATIC);
    expect(await extensions()).toEqual([
      'qemu-guest-agent v1.11.3',
      'util-linux-tools v1.11.3',
      `schematic ${WORKER_SCHEMATIC}`,
    ]);
    expect(await gpus()).toBeUndefined();
    await install(GPU_SCHEMATIC);
    expect(await gpus()).toBe('1');
  });

  it('the Image Factory answers a schematic as YAML, and 404 for one it does not know', async () => {
    const factory = lab.env.TALOS_LAB_REGISTRY ?? '';
    const known = await fetch(`${factory}/schematics/${WORKER_SCHEMATIC}`);
    expect(known.status).toBe(200);
    expect(known.headers.get('content-type')).toBe('application/yaml');
    expect(await known.text()).toMatch(/^customization:\n {2}systemExtensions:\n {4}officialExtensions:\n/);
    const unknown = await fetch(`${factory}/schematics/${'b'.repeat(64)}`);
    expect([unknown.status, await unknown.text()]).toEqual([404, 'schematic not found\n']);
  });

  it('refuses an installer image the registry does not have', async () => {
    const target = lab.ip('k8s-work-3');
    const upgrade = await lab.talosctl(
      '-n',
      target,
      'upgrade',
      // talosctl 1.13 waits whenever it would drain (the default), --wait=false or not.
      '--drain=false',
      '--wait=false',
      '--image',
      installerImage(lab, '1.11.9', WORKER_SCHEMATIC),
    );
    expect(upgrade.exitCode).toBe(1);
    expect(upgrade.stderr).toContain('New upgrade API is not available, falling back to legacy');
    expect(upgrade.stderr).toMatch(
      new RegExp(
        `error from node ${target.replace(/\./g, '\\.')}: error performing upgrade: rpc error: code = Unknown desc = error validating installer image "[^"]+": 1 error\\(s\\) occurred:\\s+failed to pull image [^\\n]*not found`,
      ),
    );
  });

  it('terraform destroy -target removes exactly that node, whose Node object stays; apply recreates it in maintenance mode; apply-config joins it into that Node', async () => {
    const tfDir = `${lab.dir}/repo/terraform`;
    const terraform = lab.env.TERRAFORM ?? 'terraform';
    const before = (await lab.core.listNode()).items.length;
    await lab.core.patchNode(
      {
        name: 'k8s-work-5',
        body: [
          { op: 'replace', path: '/spec/unschedulable', value: true },
          { op: 'add', path: '/metadata/labels/homelab~1rack', value: 'b' },
        ],
      },
      setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
    );
    const old = await lab.core.readNode({ name: 'k8s-work-5' });
    const destroy = await lab.run(
      terraform,
      ['destroy', '-auto-approve', '-no-color', '-target=module.nodes["k8s-work-5"]'],
      { cwd: tfDir },
    );
    expect(destroy.stdout).toContain('Resources: 1 destroyed');
    // Nothing in a cluster deletes the Node of a VM that went away: it stays, NotReady.
    expect((await lab.core.listNode()).items).toHaveLength(before);
    await eventually('k8s-work-5 NotReady', async () => !(await nodeReady(lab, 'k8s-work-5')));
    const state = await lab.run(terraform, ['state', 'list'], { cwd: tfDir });
    expect(state.stdout).not.toContain('module.nodes["k8s-work-5"]');
    expect(state.stdout).toContain('module.nodes["k8s-work-6"]');
    // A VM is made from an image its own host's local storage holds: a file another host downloaded
    // makes none, as Proxmox answers a disk whose volume is not on the node.
    const { state: labState } = await lab.api<{ state: { datastore: Record<string, string> } }>('/state');
    const [hostFile = ''] = Object.keys(labState.datastore);
    // Each download is kept by its host: "<host>/local:iso/<file>".
    expect(hostFile).toMatch(/^[a-z0-9-]+\/local:iso\/talos-v[\d.]+-[0-9a-f]{12}-nocloud-amd64\.img$/);
    const [host = '', file = ''] = hostFile.split(/\/(.*)/);
    const create = (on: string) =>
      fetch(`${lab.apiUrl}/vm/create`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ node: 'k8s-work-5', version: '1.12.0', file, host: on }),
      });
    expect(host).not.toBe('');
    const elsewhere = await create(`not-${host}`);
    expect(elsewhere.status).not.toBe(200);
    expect(await elsewhere.text()).toContain(`volume '${file}' does not exist`);

    const apply = await lab.run(
      terraform,
      [
        'apply',
        '-auto-approve',
        '-no-color',
        '-target=module.nodes["k8s-work-5"]',
        '-var',
        'talos_version=1.12.0',
        // The VM boots the image Terraform names: here the controllers' schematic, without NVIDIA's.
        '-var',
        `worker_schematic_id=${CONTROLLER_SCHEMATIC}`,
      ],
      { cwd: tfDir },
    );
    // The VM, and the downloads it depends on: Terraform targets a module's dependencies by resource,
    // not by instance, so every host's image of each schematic is replaced at the new version, and
    // those no VM uses any more (the workers' own schematic, overridden here) are removed.
    expect(apply.stdout).toMatch(/Apply complete! Resources: \d+ added, 0 changed, \d+ destroyed/);
    expect(apply.stdout).toContain(
      'module.nodes["k8s-work-5"].proxmox_virtual_environment_vm.vm: Creation complete',
    );
    const booted = await lab.api<{ state: { nodes: Array<{ name: string; schematic: string }> } }>('/state');
    expect(booted.state.nodes.find((n) => n.name === 'k8s-work-5')?.schematic).toBe(CONTROLLER_SCHEMATIC);
    const target = lab.ip('k8s-work-5');
    // With the cluster's certificates, a node in maintenance mode fails TLS: its certificate is its own.
    const secure = await lab.talosctl('-n', target, 'get', 'machinestatus', '-o', 'json');
    expect(secure.exitCode).toBe(1);
    expect(secure.stderr).toContain('certificate signed by unknown authority');
    // Talos 1.12's maintenance server refuses the Version talosctl 1.14 asks before a `get` to a peer
    // without the admin role (internal/app/maintenance/server.go at v1.12.5): that refusal is its answer.
    const maintenance = await lab.talosctl('-n', target, 'get', 'machinestatus', '-o', 'json', '--insecure');
    expect(maintenance.exitCode).toBe(1);
    expect(maintenance.stderr).toContain(
      `${target}: error getting server version: rpc error: code = Unimplemented desc = API is not implemented in maintenance mode`,
    );
    const config = `${lab.dir}/secrets/worker.yaml`;
    const applied = await lab.talosctl('-n', target, 'apply-config', '--insecure', '-f', config);
    expect(applied.stderr).toBe('');
    expect(applied.exitCode).toBe(0);
    await eventually(
      'k8s-work-5 to join at 1.12.0',
      async () =>
        (await nodeReady(lab, 'k8s-work-5')) &&
        (await lab.core.readNode({ name: 'k8s-work-5' })).status?.nodeInfo?.osImage === 'Talos (v1.12.0)',
    );
    // The new VM's kubelet took the Node as it was: the same object, still cordoned, another machine.
    const rejoined = await lab.core.readNode({ name: 'k8s-work-5' });
    expect(rejoined.metadata?.uid).toBe(old.metadata?.uid);
    expect(rejoined.spec?.unschedulable).toBe(true);
    expect(rejoined.metadata?.labels?.['homelab/rack']).toBe('b');
    expect(rejoined.status?.nodeInfo?.systemUUID).not.toBe(old.status?.nodeInfo?.systemUUID);
    await lab.core.patchNode(
      { name: 'k8s-work-5', body: [{ op: 'replace', path: '/spec/unschedulable', value: false }] },
      setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
    );
    // A configured node refuses a client without a certificate.
    const insecure = await lab.talosctl('-n', target, 'get', 'machinestatus', '--insecure');
    expect(insecure.exitCode).toBe(1);
    expect(insecure.stderr).toContain('code = Unavailable');
    // Its VLAN links come from the worker config it was given (v1alpha1 devices: `<nic>.<id>` on 1.12 too).
    const links = await lab.talosctl('-n', target, 'get', 'links', '-o', 'json');
    expect(links.stdout).toContain('"id": "eth1.62"');
    expect(links.stdout).toContain('"id": "eth2.81"');
  });

  it('patch mc reaches both a 1.11 and a 1.12 node, whose machine configs travel differently', async () => {
    const patch = `${lab.dir}/patch.yaml`;
    await lab.run('bash', ['-c', `printf 'machine:\\n  sysctls:\\n    vm.nr_hugepages: "0"\\n' > ${patch}`]);
    for (const node of ['k8s-work-6', 'k8s-work-5']) {
      const result = await lab.talosctl('-n', lab.ip(node), 'patch', 'mc', '--patch', `@${patch}`);
      expect(result.exitCode).toBe(0);
      expect(result.stderr).toContain(
        `patched MachineConfigs.config.talos.dev/v1alpha1 at the node ${lab.ip(node)}`,
      );
    }
    const mc = await lab.talosctl('-n', lab.ip('k8s-work-5'), 'get', 'mc', '-o', 'yaml');
    expect(mc.stdout).toContain('talos.dev/yaml-spec');
    const old = await lab.talosctl('-n', lab.ip('k8s-work-6'), 'get', 'mc', '-o', 'yaml');
    expect(old.stdout).not.toContain('talos.dev/yaml-spec');
  });

  it('a config document newer than the node is not registered there: a VLANConfig refused on 1.11, taken on 1.12', async () => {
    const patch = `${lab.dir}/vlan-document.yaml`;
    await writeFile(
      patch,
      'apiVersion: v1alpha1\nkind: VLANConfig\nname: eth1.99\nvlanID: 99\nparent: eth1\n',
    );
    const dryRun = (node: string) =>
      lab.talosctl('-n', lab.ip(node), 'patch', 'mc', '--dry-run', '--patch', `@${patch}`);
    const old = await dryRun('k8s-work-6');
    expect(old.exitCode).toBe(1);
    expect(old.stderr).toContain('code = InvalidArgument desc = "VLANConfig" "v1alpha1": not registered');
    // k8s-work-5 runs 1.12.0 since the test before recreated it.
    const current = await dryRun('k8s-work-5');
    expect(current.exitCode).toBe(0);
    expect(current.stdout + current.stderr).toContain(
      'Applied configuration without a reboot (skipped in dry-run)',
    );
  });

  it('a patch that writes machine.files needs a boot, as Talos 1.11-1.13 say: refused live, staged quietly, auto reboots', async () => {
    const patch = `${lab.dir}/files-patch.yaml`;
    await lab.run('bash', [
      '-c',
      `printf 'machine:\\n  files:\\n    - path: /var/lab/conf.part\\n      op: create\\n      content: lab\\n' > ${patch}`,
    ]);
    const node = lab.ip('k8s-work-6');
    const count = async (kind: string) =>
      (await lab.api<{ timeline: Array<{ kind: string; node?: string }> }>('/report')).timeline.filter(
        (e) => e.kind === kind && e.node === 'k8s-work-6',
      ).length;
    const reboots = () => count('reboot');
    const boots = await count('power-on');
    const before = await reboots();
    const live = await lab.talosctl('-n', node, 'patch', 'mc', '--mode', 'no-reboot', '--patch', `@${patch}`);
    expect(live.exitCode).not.toBe(0);
    expect(live.stderr).toContain("this config change can't be applied in immediate mode");
    expect(live.stderr).toContain('machine.files');
    const staged = await lab.talosctl('-n', node, 'patch', 'mc', '--mode', 'staged', '--patch', `@${patch}`);
    expect(staged.exitCode).toBe(0);
    expect(await reboots()).toBe(before);
    // talosctl's default mode is auto: Talos turns it into a reboot it starts by itself.
    const auto = await lab.talosctl('-n', node, 'patch', 'mc', '--patch', `@${patch}`);
    expect(auto.exitCode).toBe(0);
    expect(auto.stdout + auto.stderr).toContain('Applied configuration with a reboot');
    await eventually('k8s-work-6 to reboot', async () => (await reboots()) === before + 1);
    // Up again (its Node stays Ready through a short reboot): the next tests need every node answering.
    await eventually('k8s-work-6 to boot again', async () => (await count('power-on')) === boots + 1, 60_000);
    await eventually('k8s-work-6 Ready again', () => nodeReady(lab, 'k8s-work-6'), 60_000);
  });

  it('etcd refuses an upgrade that would cost quorum, with the real message; remove-member takes a hex id', async () => {
    expect((await lab.talosctl('-n', lab.ip('k8s-ctrl-3'), 'etcd', 'leave')).exitCode).toBe(0);
    const upgrade = await lab.talosctl(
      '-n',
      lab.ip('k8s-ctrl-1'),
      'upgrade',
      '--wait=false',
      '--image',
      installerImage(lab, '1.11.4', '366fd68945d42e0b6428f65068c83c2c3c08e3afb0e3bc3f00e04b28e2ad0ce2'),
    );
    expect(upgrade.exitCode).toBe(1);
    expect(upgrade.stderr).toContain(
      'error validating etcd for upgrade: etcd member count(2) is insufficient to maintain quorum if upgrade commences',
    );
    const byName = await lab.talosctl('-n', lab.ip('k8s-ctrl-1'), 'etcd', 'remove-member', 'k8s-ctrl-3');
    expect(byName.exitCode).toBe(1);
    expect(byName.stderr).toContain('error parsing etcd member id');
  });

  it('upgrade-k8s with the real client: refuses what Talos does not support, dry-runs, then moves every component', async () => {
    const cp1 = lab.ip('k8s-ctrl-1');
    const jump = await lab.talosctl('-n', cp1, 'upgrade-k8s', '--to', '1.36.0');
    expect(jump.exitCode).toBe(1);
    expect(jump.stderr).toContain('unsupported upgrade path 1.34->1.36');
    const tooNew = await lab.talosctl('-n', cp1, 'upgrade-k8s', '--to', '1.35.0', '--dry-run');
    expect(tooNew.exitCode).toBe(1);
    expect(tooNew.stderr).toMatch(
      /version of Kubernetes 1\.35\.0 is too new to be used with Talos 1\.11\.\d/,
    );
    // The dry run pulls every component's image on every node first (MachineService.ImagePull): a
    // release whose images the nodes cannot pull is refused before anything moves.
    await lab.labCli('fault', 'add', 'kubernetes-image-missing', '--version', '1.34.2');
    const missing = await lab.talosctl('-n', cp1, 'upgrade-k8s', '--to', '1.34.2', '--dry-run');
    await lab.labCli('fault', 'clear');
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toContain(
      `failed pre-pulling images: error pre-pulling registry.k8s.io/kube-apiserver:v1.34.2 on ${cp1}: rpc error: code = NotFound desc = error pulling image: 1 error(s) occurred:`,
    );
    const dry = await lab.talosctl('-n', cp1, 'upgrade-k8s', '--to', '1.34.2', '--dry-run');
    expect(dry.exitCode).toBe(0);
    expect(dry.stdout).toContain('automatically detected the lowest Kubernetes version 1.34.1');
    expect(dry.stdout).toContain(`> "${cp1}": pre-pulling registry.k8s.io/kube-scheduler:v1.34.2`);
    expect(dry.stdout).toContain(
      `> "${lab.ip('k8s-work-1')}": pre-pulling ghcr.io/siderolabs/kubelet:v1.34.2`,
    );
    const { timeline } = await lab.api<{ timeline: Array<{ kind: string; node?: string; detail?: string }> }>(
      '/report',
    );
    const pulled = (image: string) =>
      timeline.filter((e) => e.kind === 'image-pulled' && e.detail === image).map((e) => e.node);
    const nodes = (await lab.core.listNode()).items;
    const controllers = nodes.filter(
      (n) => 'node-role.kubernetes.io/control-plane' in (n.metadata?.labels ?? {}),
    );
    expect(pulled('registry.k8s.io/kube-apiserver:v1.34.2').sort()).toEqual(
      controllers.map((n) => n.metadata?.name).sort(),
    );
    expect(pulled('ghcr.io/siderolabs/kubelet:v1.34.2')).toHaveLength(nodes.length);
    expect((await lab.core.readNode({ name: 'k8s-work-1' })).status?.nodeInfo?.kubeletVersion).toBe(
      'v1.34.1',
    );
    // Talos's bootstrap manifests, rendered on each controller from its config: the dry run reads
    // them and finds nothing to change (its own config change is not applied).
    const manifests = await lab.talosctl('-n', cp1, 'get', 'manifests');
    for (const id of ['00-kubelet-bootstrapping-token', '05-flannel', '10-kube-proxy', '11-core-dns'])
      expect(manifests.stdout).toContain(id);
    expect(dry.stdout).toContain('updating manifests');
    expect(dry.stdout).not.toContain('dry run, change skipped');
    const real = await lab.talosctl('-n', cp1, 'upgrade-k8s', '--to', '1.34.2');
    expect(real.stderr).not.toMatch(/error|failed/i);
    expect(real.exitCode).toBe(0);
    expect(real.stdout).toContain(`< "${cp1}": successfully updated`);
    // The new kube-proxy image re-rendered its manifest; the legacy sync (Talos 1.11) updated the
    // DaemonSet and waited for the real controller manager to roll it out on every node.
    expect(real.stdout).toContain(' > processing manifest apps/v1.DaemonSet/kube-system/kube-proxy');
    expect(real.stdout).toContain(' > waiting for apps/v1.DaemonSet/kube-system/kube-proxy');
    const apps = lab.kc.makeApiClient(AppsV1Api);
    const proxy = await apps.readNamespacedDaemonSet({ name: 'kube-proxy', namespace: 'kube-system' });
    expect(proxy.spec?.template.spec?.containers[0]?.image).toBe('registry.k8s.io/kube-proxy:v1.34.2');
    expect(proxy.status?.updatedNumberScheduled).toBe(nodes.length);
    expect(proxy.status?.numberAvailable).toBe(nodes.length);
    const coredns = await apps.readNamespacedDeployment({ name: 'coredns', namespace: 'kube-system' });
    expect(coredns.metadata?.managedFields?.some((f) => f.manager === 'talos')).toBe(true);
    expect((await lab.core.readNode({ name: 'k8s-work-1' })).status?.nodeInfo?.kubeletVersion).toBe(
      'v1.34.2',
    );
    const apiserver = await lab.core.readNamespacedPod({
      name: 'kube-apiserver-k8s-ctrl-2',
      namespace: 'kube-system',
    });
    expect(apiserver.spec?.containers[0]?.image).toBe('registry.k8s.io/kube-apiserver:v1.34.2');
  }, 600_000);

  it('talos-lab report --json has the timeline and the final checks', async () => {
    const { stdout } = await lab.labCli('report', '--json');
    const report = JSON.parse(stdout) as {
      timeline: Array<{ kind: string; node?: string }>;
      vms: Array<{ node: string; destroyed: number }>;
    };
    expect(report.timeline.some((e) => e.kind === 'vm-destroyed' && e.node === 'k8s-work-5')).toBe(true);
    expect(report.vms.find((vm) => vm.node === 'k8s-work-5')?.destroyed).toBe(1);
  });

  it('talos-lab config changes what the invariant monitor allows; a bad number is refused and changes nothing', async () => {
    const bad = await lab.labCli('config', '--max-unavailable-workers', 'three');
    expect(bad.exitCode).not.toBe(0);
    expect(bad.stderr).toContain('--max-unavailable-workers takes a whole number, not "three"');
    expect((await lab.labCli('config')).stdout).toContain('max unavailable workers: 1');
    expect((await lab.labCli('config', '--max-unavailable-workers', '3')).stdout).toContain(
      'max unavailable workers: 3',
    );
    await lab.labCli('config', '--max-unavailable-workers', '1');
  });
});
