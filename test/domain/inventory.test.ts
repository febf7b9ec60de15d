import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { parseInventory, type InventoryIssue } from '../../src/domain/index.js';

const example = (name: string) =>
  readFileSync(new URL(`../../examples/${name}.yaml`, import.meta.url), 'utf8');

function issuesOf(text: string): InventoryIssue[] {
  const result = parseInventory(text);
  if (result.ok) throw new Error('expected the inventory to be rejected');
  return result.issues;
}

describe('inventory examples', () => {
  it('prox-ops: 3 controllers, 12 workers with 3 NICs, GPUs on k8s-work-4 and k8s-work-14, 8 templates', () => {
    const result = parseInventory(example('prox-ops'));
    if (!result.ok) throw new Error(JSON.stringify(result.issues));
    const { nodes, terraform, cluster, images } = result.inventory;
    expect(nodes.filter((n) => n.role === 'controlplane').map((n) => n.name)).toEqual([
      'k8s-ctrl-1',
      'k8s-ctrl-2',
      'k8s-ctrl-3',
    ]);
    const workers = nodes.filter((n) => n.role === 'worker');
    expect(workers).toHaveLength(12);
    expect(workers.every((w) => w.name.startsWith('k8s-work-'))).toBe(true);
    for (const worker of workers)
      expect(worker.nics).toEqual([
        { name: 'eth0', vlan: 'native' },
        { name: 'eth1', vlan: 62 },
        { name: 'eth2', vlan: 81 },
      ]);
    for (const controller of nodes.filter((n) => n.role === 'controlplane'))
      expect(controller.nics).toHaveLength(1);
    expect(nodes.filter((n) => n.gpu).map((n) => [n.name, n.gpu?.model])).toEqual([
      ['k8s-work-4', 'NVIDIA RTX A2000 12GB'],
      ['k8s-work-14', 'NVIDIA RTX A5000 24GB'],
    ]);
    expect(terraform?.templates).toHaveLength(8);
    expect(cluster.network).toBe('10.20.66.0/23');
    expect(nodes.every((n) => n.terraformAddress === `module.nodes["${n.name}"]`)).toBe(true);
    expect(images.schematics.worker).toMatch(/^[0-9a-f]{64}$/);
  });

  it('atlas: static IPs and ens18 NICs', () => {
    const result = parseInventory(example('atlas'));
    if (!result.ok) throw new Error(JSON.stringify(result.issues));
    expect(result.inventory.nodes.map((n) => n.ip)).toEqual([
      '10.0.0.11',
      '10.0.0.12',
      '10.0.0.13',
      '10.0.0.21',
      '10.0.0.22',
    ]);
    // Talos names a Proxmox virtio NIC ens18, not eth0.
    expect(result.inventory.nodes.every((n) => n.nics[0]?.name === 'ens18')).toBe(true);
  });

  it('portkey: three control-plane nodes, ArgoCD, no Terraform, pets for everything', () => {
    const result = parseInventory(example('portkey'));
    if (!result.ok) throw new Error(JSON.stringify(result.issues));
    const { nodes, terraform, cluster, policy } = result.inventory;
    expect(nodes.map((n) => [n.name, n.role, n.ip])).toEqual([
      ['metal0', 'controlplane', '192.168.0.11'],
      ['metal1', 'controlplane', '192.168.0.12'],
      ['metal2', 'controlplane', '192.168.0.13'],
    ]);
    expect(terraform).toBeUndefined();
    expect(cluster).toMatchObject({ gitops: 'argocd', storage: 'external-ceph' });
    expect(policy.withoutTerraform).toBe('pets');
  });

  it('fills policy defaults: drain 240s, Ready 10 min, stabilisation 2 min, heartbeats 60s, one worker at a time', () => {
    const result = parseInventory(example('atlas'));
    if (!result.ok) throw new Error('invalid');
    expect(result.inventory.policy).toMatchObject({
      drain: { timeout: 240_000, force: false },
      nodeReadyTimeout: 600_000,
      heartbeatTimeout: 60_000,
      maxParallelWorkers: 1,
      approval: { patch: false, minor: false, major: true },
      strategy: { patch: 'pets', minor: 'cattle', major: 'cattle' },
    });
  });
});

describe('inventory errors name the field path, the line and what was expected', () => {
  const proxOps = example('prox-ops');

  it('a worker eth1 without its VLAN id', () => {
    const text = proxOps.replace(/(name: k8s-work-5\n(?:.*\n)*?\s+- \{ name: eth1), vlan: 62 \}/, '$1 }');
    const issues = issuesOf(text);
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ path: 'nodes[7].nics[1].vlan' });
    expect(issues[0]?.message).toMatch(/^required: expected a VLAN id from 1 to 4094.*\(node k8s-work-5\)$/);
    expect(issues[0]?.line).toBe(text.split('\n').findIndex((line) => line.includes('{ name: eth1 }')) + 1);
  });

  it.each([
    [
      'an unknown field',
      (t: string) => t.replace('maxParallelWorkers: 1', 'maxParallelWorker: 1'),
      'policy',
      /unknown field "maxParallelWorker"/,
    ],
    [
      'a VLAN id out of range',
      (t: string) => t.replace('vlan: 81 }', 'vlan: 5000 }'),
      'nodes[3].nics[2].vlan',
      /1 to 4094/,
    ],
    [
      'a duplicate node name',
      (t: string) => t.replace('name: k8s-work-2\n', 'name: k8s-work-1\n'),
      'nodes[4].name',
      /also used by nodes\[3\]/,
    ],
    [
      'an IP outside the network',
      (t: string) => t.replace('ip: 10.20.67.9\n', 'ip: 10.30.0.9\n'),
      'nodes[8].ip',
      /outside cluster.network 10\.20\.66\.0\/23/,
    ],
    [
      // Earlier inventories had it; an old one is refused with what to do rather than half-read.
      'a Proxmox host, which the product never reads',
      (t: string) => t.replace('    ip: 10.20.67.7\n', '    ip: 10.20.67.7\n    proxmoxHost: odin\n'),
      'nodes[6].proxmoxHost',
      /no longer part of the inventory \(the product reaches a VM through Terraform.*\): delete it/,
    ],
    [
      // An earlier init wrote it: validate names each line to delete.
      "a template's role",
      (t: string) =>
        t.replace('    - name: baldar-worker\n', '    - name: baldar-worker\n      role: worker\n'),
      'terraform.templates[1].role',
      /every template is rebuilt at the new version alike\): delete it/,
    ],
    [
      "Talos endpoints, which the worker's talosconfig names",
      (t: string) => t.replace('  name: prox-ops\n', '  name: prox-ops\n  talosEndpoints: [10.20.67.1]\n'),
      'cluster.talosEndpoints',
      /talosconfig names them\): delete it/,
    ],
    [
      'a bad duration',
      (t: string) => t.replace('stabilisation: 2m', 'stabilisation: two minutes'),
      'policy.stabilisation',
      /expected a number and a unit/,
    ],
    [
      "a heartbeat timeout too short for the worker's 10 s heartbeat throttle",
      (t: string) => t.replace('stabilisation: 2m', 'stabilisation: 2m\n  heartbeatTimeout: 10s'),
      'policy.heartbeatTimeout',
      /between 20s and 10m/,
    ],
    [
      'an inline secret',
      (t: string) =>
        t.replace(
          'url: { file: /run/secrets/discord_webhook_url }',
          'url: https://discord.example/api/webhooks/1/abc',
        ),
      'notifications[0].url',
      /never written inline/,
    ],
    [
      'a flux check on an ArgoCD cluster',
      (t: string) => t.replace('gitops: flux', 'gitops: argocd'),
      'policy.healthChecks[3]',
      /flux check needs cluster.gitops: flux/,
    ],
    [
      'a node without a Terraform address',
      (t: string) => t.replace(`    terraformAddress: 'module.nodes["k8s-work-7"]'\n`, ''),
      'nodes[9].terraformAddress',
      /required when the inventory has a terraform section/,
    ],
    [
      'cattle without a machine config for the workers',
      (t: string) => t.replace('  worker: /etc/talos-upgrade/prox-ops/worker.yaml\n', ''),
      'machineConfigs.worker',
      /policy recreates VMs \(cattle\) and k8s-work-1, .* would boot with no machine config/,
    ],
    [
      'an address that covers the other nodes (module.nodes)',
      (t: string) =>
        t.replace(
          `    terraformAddress: 'module.nodes["k8s-work-7"]'`,
          `    terraformAddress: 'module.nodes'`,
        ),
      'nodes[9].terraformAddress',
      /"module.nodes" also covers k8s-ctrl-1's "module.nodes\["k8s-ctrl-1"\]" \(and 13 more\): a rebuild of k8s-work-7 would destroy k8s-ctrl-1 too/,
    ],
    [
      'two nodes naming one Terraform address among several',
      (t: string) =>
        t.replace(
          `    terraformAddress: 'module.nodes["k8s-work-7"]'`,
          `    terraformAddresses: ['module.nodes["k8s-work-7"]', 'module.nodes["k8s-work-6"]']`,
        ),
      'nodes[9].terraformAddresses',
      /"module.nodes\["k8s-work-6"\]" is also k8s-work-6's/,
    ],
  ])('%s', (_name, mutate, path, message) => {
    const issues = issuesOf(mutate(proxOps));
    expect(issues.map((issue) => issue.path)).toContain(path);
    expect(issues.find((issue) => issue.path === path)?.message).toMatch(message);
  });

  it('refuses `terraform` as the config source where no Terraform could configure a node', () => {
    const text = example('portkey').replace(
      /^nodes:$/m,
      'machineConfigs:\n  controlplane: terraform\nnodes:',
    );
    const issue = issuesOf(text).find((i) => i.path === 'machineConfigs.controlplane');
    expect(issue?.message).toMatch(/the inventory has no terraform section: name the node's VM/);
  });

  it('repository.poll: a duration of at least a minute', () => {
    const polling = (every: string) => proxOps.replace(/^repository:\n/m, `repository:\n  poll: ${every}\n`);
    const parsed = parseInventory(polling('5m'));
    expect(parsed.ok && parsed.inventory.repository?.poll).toBe(300_000);
    expect(issuesOf(polling('30s')).find((i) => i.path === 'repository.poll')?.message).toMatch(
      /poll at most once a minute/,
    );
  });

  it('needs no machine config where the policy never recreates a VM (pets for every release)', () => {
    const petsOnly = proxOps
      .replace(/machineConfigs:\n {2}controlplane: .*\n {2}worker: .*\n/, '')
      .replace(
        'strategy: { patch: pets, minor: cattle, major: cattle }',
        'strategy: { patch: pets, minor: pets, major: pets }',
      );
    const result = parseInventory(petsOnly);
    expect(result.ok ? [] : result.issues).toEqual([]);
  });

  it('reports YAML syntax errors with their line instead of throwing', () => {
    const issues = issuesOf('apiVersion: talos-upgrade/v1\nnodes: [\n  - a\n');
    expect(issues[0]?.path).toBe('(YAML)');
    expect(issues[0]?.line).toBeGreaterThan(0);
  });

  it('reports an alias to no anchor, or a billion-laughs document, instead of throwing (found by fuzzing)', () => {
    expect(issuesOf('cluster: *missing\n')[0]).toMatchObject({ path: '(YAML)', message: /alias/i });
    const laughs = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 8; i++)
      laughs.push(
        `${'abcdefgh'[i]}: &${'abcdefgh'[i]} [${Array(10)
          .fill(`*${'abcdefgh'[i - 1]}`)
          .join(', ')}]`,
      );
    expect(issuesOf(laughs.join('\n'))[0]).toMatchObject({ path: '(YAML)', message: /alias/i });
  });

  it.each(['', '42', '- a list', 'null'])('rejects a document that is not a mapping: %j', (text) => {
    expect(issuesOf(text)[0]?.message).toMatch(/expected a YAML mapping/);
  });
});
