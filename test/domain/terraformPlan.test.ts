import { describe, expect, it } from '@jest/globals';
import {
  configAppliesDestroyed,
  describePlan,
  destroyedBesidesConfig,
  downloadsOf,
  redactedUrl,
  plannedChanges,
  planRefusal,
  summarisePlan,
  type PlannedChange,
  type PlanScope,
} from '../../src/domain/index.js';

const vm = (node: string) => `module.nodes["${node}"].terraform_data.vm`;
const others = { 'k8s-work-2': ['module.nodes["k8s-work-2"]'], 'k8s-ctrl-1': ['module.nodes["k8s-ctrl-1"]'] };
const scope = (kind: PlanScope['kind'], own = ['module.nodes["k8s-work-1"]']): PlanScope => ({
  kind,
  own,
  others,
});
const change = (address: string, ...actions: string[]): PlannedChange => ({ address, actions });

describe('a saved plan checked against the node it rebuilds', () => {
  it.each<[string, PlannedChange[], PlanScope, RegExp | undefined]>([
    ['the node destroyed alone', [change(vm('k8s-work-1'), 'delete')], scope('destroy'), undefined],
    ['the node created alone', [change(vm('k8s-work-1'), 'create')], scope('create'), undefined],
    [
      'the node replaced at the new version',
      [change(vm('k8s-work-1'), 'delete', 'create')],
      scope('create'),
      undefined,
    ],
    [
      'the others untouched (no-op) and data sources read',
      [change(vm('k8s-work-1'), 'create'), change(vm('k8s-work-2'), 'no-op'), change('data.x.y', 'read')],
      scope('create'),
      undefined,
    ],
    [
      'a new shared resource the create needs (an image for the version)',
      [change(vm('k8s-work-1'), 'create'), change('proxmox_download_file.talos["1.12.0"]', 'create')],
      scope('create'),
      undefined,
    ],
    [
      'another node destroyed too',
      [change(vm('k8s-work-1'), 'delete'), change(vm('k8s-work-2'), 'delete')],
      scope('destroy'),
      /would delete module.nodes\["k8s-work-2"\].terraform_data.vm, which belongs to k8s-work-2/,
    ],
    [
      // The siderolabs provider's examples: the bootstrap depends_on the config applies, the kubeconfig on it.
      'the cluster bootstrap and kubeconfig taken along with a controller',
      [
        change(vm('k8s-work-1'), 'delete'),
        { ...change('talos_cluster_kubeconfig.this', 'delete'), type: 'talos_cluster_kubeconfig' },
        { ...change('talos_machine_bootstrap.this', 'delete'), type: 'talos_machine_bootstrap' },
      ],
      scope('destroy'),
      /would delete talos_cluster_kubeconfig\.this: it depends on this node's resources .* Let talos_machine_bootstrap depend on no node: drop that depends_on/,
    ],
    [
      "a bootstrap in the node's own module: no node takes it along",
      [
        change(vm('k8s-work-1'), 'delete'),
        {
          ...change('module.nodes["k8s-work-1"].talos_machine_bootstrap.this[0]', 'delete'),
          type: 'talos_machine_bootstrap',
        },
      ],
      scope('destroy'),
      /talos_machine_bootstrap\.this\[0\], which lies under module\.nodes\["k8s-work-1"\]: the cluster's bootstrap .* Move it out of the node's module/,
    ],
    [
      "a create that would bootstrap etcd again, even under the node's own address",
      [
        change(vm('k8s-work-1'), 'create'),
        {
          ...change('module.nodes["k8s-work-1"].talos_machine_bootstrap.this[0]', 'create'),
          type: 'talos_machine_bootstrap',
        },
      ],
      scope('create'),
      /would create .*talos_machine_bootstrap\.this\[0\]: Talos would be asked to bootstrap etcd on a cluster that runs/,
    ],
    [
      'a shared resource replaced by the create',
      [change(vm('k8s-work-1'), 'create'), change('proxmox_download_file.talos', 'delete', 'create')],
      scope('create'),
      /would delete\+create proxmox_download_file.talos, outside module.nodes\["k8s-work-1"\]/,
    ],
    [
      'a shared resource updated',
      [
        change(vm('k8s-work-1'), 'create'),
        change('proxmox_virtual_environment_cluster_options.this', 'update'),
      ],
      scope('create'),
      /would update proxmox_virtual_environment_cluster_options.this, outside/,
    ],
    [
      'a resource outside destroyed',
      [change(vm('k8s-work-1'), 'delete'), change('dns_a_record.k8s_work_1', 'delete')],
      scope('destroy'),
      /would delete dns_a_record.k8s_work_1, outside/,
    ],
    [
      'an address that names every instance of the module',
      [change(vm('k8s-work-1'), 'delete'), change(vm('k8s-work-3'), 'delete')],
      { kind: 'destroy', own: ['module.nodes'], others: {} },
      /module.nodes names 2 instances \(\["k8s-work-1"\], \["k8s-work-3"\]\), not one node/,
    ],
    [
      'a count index that covers the other nodes of its role',
      [change('proxmox_vm.worker[0]', 'delete'), change('proxmox_vm.worker[1]', 'delete')],
      { kind: 'destroy', own: ['proxmox_vm.worker'], others: {} },
      /proxmox_vm.worker names 2 instances \(\[0\], \[1\]\)/,
    ],
    [
      'a create that destroys the node without creating it',
      [change(vm('k8s-work-1'), 'delete')],
      scope('create'),
      /would destroy module.nodes\["k8s-work-1"\].terraform_data.vm without creating it again/,
    ],
    [
      'a node of several addresses: its VM and its config apply',
      [
        change(vm('k8s-work-1'), 'delete', 'create'),
        change('talos_machine_configuration_apply.this["k8s-work-1"]', 'delete', 'create'),
      ],
      scope('create', ['module.nodes["k8s-work-1"]', 'talos_machine_configuration_apply.this["k8s-work-1"]']),
      undefined,
    ],
  ])('%s', (_name, planned, planScope, refused) => {
    const refusal = planRefusal(planned, planScope);
    if (refused) expect(refusal).toMatch(refused);
    else expect(refusal).toBeUndefined();
  });

  it('an address of another node that covers this one: the overlap is named, from either side', () => {
    const planned = [change(vm('k8s-work-1'), 'delete')];
    expect(
      planRefusal(planned, {
        kind: 'destroy',
        own: ['module.nodes["k8s-work-1"]'],
        others: { 'k8s-work-2': ['module.nodes'] },
      }),
    ).toBe(
      `k8s-work-2's address module.nodes also covers module.nodes["k8s-work-1"]: each node must name its own instance`,
    );
    expect(
      planRefusal([change(vm('k8s-work-2'), 'delete')], {
        kind: 'destroy',
        own: ['module.nodes'],
        others: { 'k8s-work-2': ['module.nodes["k8s-work-2"]'] },
      }),
    ).toBe(`module.nodes also covers k8s-work-2's module.nodes["k8s-work-2"]: name this node's own instance`);
  });

  it('keys that share a prefix are different instances (k8s-work-1 is not k8s-work-12)', () => {
    const planned = [change(vm('k8s-work-12'), 'delete')];
    expect(planRefusal(planned, scope('destroy'))).toMatch(/outside module.nodes\["k8s-work-1"\]/);
  });

  it('summarises a plan by action, and reads terraform show -json', () => {
    const json = JSON.stringify({
      format_version: '1.2',
      resource_changes: [
        { address: vm('a'), mode: 'managed', change: { actions: ['delete', 'create'] } },
        { address: vm('b'), mode: 'managed', change: { actions: ['no-op'] } },
        { address: 'data.talos_client_configuration.this', mode: 'data', change: { actions: ['read'] } },
        { address: 'local_file.x', mode: 'managed', change: { actions: ['create'] } },
      ],
    });
    const planned = plannedChanges(json);
    expect(planned).toHaveLength(3);
    expect(describePlan(summarisePlan(planned))).toBe(
      'replaces 1 (module.nodes["a"].terraform_data.vm), creates 1 (local_file.x)',
    );
    expect(describePlan(summarisePlan([]))).toBe('no changes');
  });

  it("finds the config apply a node's destroy takes along, by its type, under the node's own addresses", () => {
    // As terraform show -json names a for_each of the siderolabs/talos provider's resource.
    const apply = (node: string) => `talos_machine_configuration_apply.node["${node}"]`;
    const json = JSON.stringify({
      resource_changes: [
        {
          address: 'terraform_data.vm["a"]',
          mode: 'managed',
          type: 'terraform_data',
          change: { actions: ['delete'] },
        },
        {
          address: apply('a'),
          mode: 'managed',
          type: 'talos_machine_configuration_apply',
          change: { actions: ['delete'] },
        },
        {
          address: apply('b'),
          mode: 'managed',
          type: 'talos_machine_configuration_apply',
          change: { actions: ['no-op'] },
        },
      ],
    });
    const planned = plannedChanges(json);
    expect(configAppliesDestroyed(planned, ['terraform_data.vm["a"]', apply('a')])).toEqual([apply('a')]);
    // Not under the node's addresses: Terraform would destroy it, but the create would not make it again.
    expect(configAppliesDestroyed(planned, ['terraform_data.vm["a"]'])).toEqual([]);
    // Another node's config apply in the destroy (a dependency on the whole VM resource): refused, and why.
    const all = [
      ...planned,
      { address: apply('b'), actions: ['delete'], type: 'talos_machine_configuration_apply' },
    ];
    expect(
      planRefusal(all, {
        kind: 'destroy',
        own: ['terraform_data.vm["a"]', apply('a')],
        others: { b: ['terraform_data.vm["b"]', apply('b')] },
      }),
    ).toMatch(/which belongs to b \(every config apply depends on the whole VM resource/);
  });

  it('reads what a config apply would send: its input and patches, or unknown until apply', () => {
    // A node's create plan against the live state updates the config apply its destroy would take.
    const apply = (node: string, actions: string[], after: object, afterUnknown: object = {}) => ({
      address: `talos_machine_configuration_apply.node["${node}"]`,
      mode: 'managed',
      type: 'talos_machine_configuration_apply',
      change: { actions, after, after_unknown: afterUnknown },
    });
    const input = 'version: v1alpha1\n';
    const planned = plannedChanges(
      JSON.stringify({
        resource_changes: [
          apply('a', ['update'], { machine_configuration_input: input, config_patches: ['machine: {}\n'] }),
          // Built from a data source that reads a new VM's address: known only at apply.
          apply('b', ['create'], { config_patches: [] }, { machine_configuration_input: true }),
          apply('c', ['no-op'], { machine_configuration_input: input }, { config_patches: [false, true] }),
          // Taken along by a destroy: nothing it would send.
          apply('d', ['delete'], {}),
        ],
      }),
    );
    expect(planned.map((p) => p.appliedConfig)).toEqual([
      { input, patches: ['machine: {}\n'], unknown: false },
      { patches: [], unknown: true },
      { input, patches: [], unknown: true },
      undefined,
    ]);
  });

  it("a role's shared image download, replaced for the new version: allowed in a create, its URL to check", () => {
    const image = 'proxmox_virtual_environment_download_file.talos["worker"]';
    const own = ['proxmox_virtual_environment_vm.worker[0]'];
    const planned: PlannedChange[] = [
      {
        address: image,
        actions: ['delete', 'create'],
        type: 'proxmox_virtual_environment_download_file',
        image: {
          after: 'http://factory/image/abc/v1.12.0/nocloud-amd64.raw.zst',
          before: 'http://factory/image/abc/v1.11.3/nocloud-amd64.raw.zst',
        },
      },
      { address: own[0] ?? '', actions: ['create'], type: 'proxmox_virtual_environment_vm' },
    ];
    expect(planRefusal(planned, { kind: 'create', own, others: {} })).toBeUndefined();
    // The target's image, and the undo's: the one the replacement deletes.
    expect(downloadsOf(planned).map((d) => [d.for, d.url])).toEqual([
      ['target', 'http://factory/image/abc/v1.12.0/nocloud-amd64.raw.zst'],
      ['undo', 'http://factory/image/abc/v1.11.3/nocloud-amd64.raw.zst'],
    ]);
    // A url known only at apply is said as such, to be refused.
    expect(downloadsOf([{ ...planned[0], image: { unknown: true } } as PlannedChange])).toEqual([
      { address: image, for: 'target', sensitive: false },
    ]);
    expect(redactedUrl('https://user:token@example.com/image/x.raw?sig=abc')).toBe(
      'https://example.com/image/x.raw',
    );
    // Any other resource replaced outside the node is still refused, and a destroy takes no image along.
    expect(
      planRefusal([{ ...planned[0], type: 'terraform_data' } as PlannedChange], {
        kind: 'create',
        own,
        others: {},
      }),
    ).toMatch(/outside proxmox_virtual_environment_vm\.worker\[0\]/);
    expect(planRefusal([{ ...planned[0] } as PlannedChange], { kind: 'destroy', own, others: {} })).toMatch(
      /would delete\+create proxmox_virtual_environment_download_file/,
    );
  });

  it('a destroy that takes down only config applies destroys no VM', () => {
    const apply = {
      address: 'talos_machine_configuration_apply.node["a"]',
      actions: ['delete'],
      type: 'talos_machine_configuration_apply',
    };
    expect(destroyedBesidesConfig([apply])).toEqual([]);
    expect(
      destroyedBesidesConfig([apply, { address: 'terraform_data.vm["a"]', actions: ['delete'] }]),
    ).toEqual(['terraform_data.vm["a"]']);
  });
});
