import { describe, expect, it } from '@jest/globals';
import { parse as parseHcl } from '@cdktf/hcl2json';
import { parse } from 'yaml';
import { carriesPatch, patchDocuments, standsIn } from '../../src/domain/discovery/configPatches.js';
import type { DiscoveredNode } from '../../src/domain/discovery/discovered.js';
import { parseInstallerImage } from '../../src/domain/discovery/installerImage.js';
import { draftInventory, type DraftInput } from '../../src/domain/discovery/inventoryDraft.js';
import { matchNodeAddresses, stateResources } from '../../src/domain/discovery/terraformNodes.js';
import { findValueLocations, sameVersion } from '../../src/domain/discovery/versionLocations.js';
import { versionsSection } from '../../src/domain/discovery/versionsSection.js';
import {
  inWrittenForm,
  objectOverride,
  parseInventory,
  writtenTalosVersion,
} from '../../src/domain/index.js';

const nodes = [
  { name: 'cp-1', ip: '10.0.0.11' },
  { name: 'cp-2', ip: '10.0.0.12' },
  { name: 'wk-1', ip: '10.0.0.21' },
];

/** A `terraform show -json` document with the given root resources and child modules. */
const show = (root: unknown[], children: unknown[] = []) => ({
  values: { root_module: { resources: root, child_modules: children } },
});
const vm = (address: string, values: unknown, index?: string | number) => ({
  address,
  mode: 'managed',
  type: address.split('.').at(-2)?.replace(/\[.*$/, '') ?? '',
  ...(index !== undefined ? { index } : {}),
  values,
});

describe("a node's Terraform addresses, from the state", () => {
  it("count-indexed VMs named by an attribute, the bootstrap never a node's, a shared DNS record nobody's", () => {
    const state = show([
      vm('proxmox_virtual_environment_vm.controlplane[0]', { name: 'cp-1', ipv4: ['10.0.0.11/24'] }, 0),
      vm('proxmox_virtual_environment_vm.controlplane[1]', { name: 'cp-2' }, 1),
      vm(
        'proxmox_virtual_environment_vm.worker[0]',
        { initialization: [{ ip_config: [{ ipv4: [{ address: '10.0.0.21/24' }] }] }] },
        0,
      ),
      { ...vm('talos_machine_bootstrap.this', { node: '10.0.0.11' }), type: 'talos_machine_bootstrap' },
      vm('dns_a_record_set.api', { addresses: ['10.0.0.11', '10.0.0.12'] }),
    ]);
    const { byNode, unmatched } = matchNodeAddresses(stateResources(state), nodes);
    expect(Object.fromEntries(byNode)).toEqual({
      'cp-1': ['proxmox_virtual_environment_vm.controlplane[0]'],
      'cp-2': ['proxmox_virtual_environment_vm.controlplane[1]'],
      'wk-1': ['proxmox_virtual_environment_vm.worker[0]'],
    });
    expect(unmatched.map((r) => r.address)).toEqual(['talos_machine_bootstrap.this', 'dns_a_record_set.api']);
  });

  it("a Helm release set to a controller's address is not that controller's; cp-1 is not cp-10", () => {
    const many = [...nodes, { name: 'cp-10', ip: '10.0.0.1' }];
    const state = show([
      vm('proxmox_virtual_environment_vm.node["cp-1"]', { name: 'cp-1' }, 'cp-1'),
      vm('proxmox_virtual_environment_vm.node["cp-10"]', { name: 'cp-10', ipv4: ['10.0.0.1/24'] }, 'cp-10'),
      vm('helm_release.cilium', { set: [{ name: 'k8sServiceHost', value: '10.0.0.11' }] }),
    ]);
    const { byNode, unmatched, named } = matchNodeAddresses(stateResources(state), many);
    expect(byNode.get('cp-1')).toEqual(['proxmox_virtual_environment_vm.node["cp-1"]']);
    expect(byNode.get('cp-10')).toEqual(['proxmox_virtual_environment_vm.node["cp-10"]']);
    expect(unmatched.map((r) => r.address)).toEqual(['helm_release.cilium']);
    expect(named).toEqual([{ address: 'helm_release.cilium', node: 'cp-1' }]);
  });

  it("a module of every node is no node's: each VM is named by its own address", () => {
    const state = show(
      [],
      [
        {
          address: 'module.vms',
          resources: nodes.map((n, i) =>
            vm(`module.vms.proxmox_virtual_environment_vm.this[${i}]`, { name: n.name }, i),
          ),
        },
      ],
    );
    const { byNode } = matchNodeAddresses(stateResources(state), nodes);
    expect(byNode.get('wk-1')).toEqual(['module.vms.proxmox_virtual_environment_vm.this[2]']);
  });

  it('a module per node is named by its instance; a module of every node is not', () => {
    const state = show(
      [],
      [
        {
          address: 'module.cluster',
          resources: [
            { ...vm('module.cluster.talos_machine_secrets.this', {}), type: 'talos_machine_secrets' },
          ],
          child_modules: nodes.map((n) => ({
            address: `module.cluster.module.node["${n.name}"]`,
            resources: [
              vm(`module.cluster.module.node["${n.name}"].proxmox_virtual_environment_vm.this`, {
                name: n.name,
              }),
              vm(`module.cluster.module.node["${n.name}"].random_id.serial`, { hex: 'abc' }),
            ],
          })),
        },
      ],
    );
    const { byNode, unmatched } = matchNodeAddresses(stateResources(state), nodes);
    expect(byNode.get('cp-2')).toEqual(['module.cluster.module.node["cp-2"]']);
    // The serial beside the VM goes with its module; the cluster's secrets with nobody.
    expect(unmatched.map((r) => r.address)).toEqual(['module.cluster.talos_machine_secrets.this']);
  });
});

describe('the installer a node runs', () => {
  it('splits an Image Factory reference into the form and the schematic', () => {
    const id = 'a'.repeat(64);
    expect(parseInstallerImage(`factory.talos.dev/nocloud-installer/${id}:v1.11.3`)).toEqual({
      form: 'factory.talos.dev/nocloud-installer/{schematic}:v{version}',
      schematic: id,
      version: '1.11.3',
    });
    expect(parseInstallerImage('ghcr.io/siderolabs/installer:v1.11.3')).toBeUndefined();
  });
});

describe('where the versions live', () => {
  it('a variable default with or without v, and an attribute of an object in a tfvars file', async () => {
    const files = [
      {
        path: 'terraform/variables.tf',
        text: '',
        json: await parseHcl(
          'variables.tf',
          'variable "talos" {\n  default = "v1.11.3"\n}\nvariable "other" {\n  default = "1.11.4"\n}\n',
        ),
      },
      {
        path: 'terraform/cluster.auto.tfvars',
        text: '',
        json: await parseHcl('cluster.auto.tfvars', 'cluster = {\n  talos_version = "1.11.3"\n}\n'),
      },
    ];
    expect(findValueLocations(files, sameVersion('1.11.3'))).toEqual([
      { file: 'terraform/variables.tf', kind: 'variable', name: 'talos', value: 'v1.11.3' },
      {
        file: 'terraform/cluster.auto.tfvars',
        kind: 'tfvars',
        name: 'cluster.talos_version',
        value: '1.11.3',
      },
    ]);
  });

  const tfvars = async (text: string) => {
    const path = 'terraform/terraform.tfvars';
    return [{ path, text, json: await parseHcl('terraform.tfvars', text) }];
  };
  const running = {
    talos: '1.11.3',
    kubernetes: '1.34.1',
    controllerSchematic: 'a'.repeat(64),
    workerSchematic: undefined,
  };

  it('lines of terraform.tfvars: the versions file, each value by its variable, read back as a merge is', async () => {
    const problems: string[] = [];
    const notes: string[] = [];
    const text = `talos_version = "v1.11.3"\nkubernetes_version = "1.34.1"\ncontroller_schematic_id = "${'a'.repeat(64)}"\n`;
    expect(versionsSection(await tfvars(text), running, problems, notes)).toEqual({
      file: 'terraform/terraform.tfvars',
      variables: {
        talos: 'talos_version',
        kubernetes: 'kubernetes_version',
        controllerSchematic: 'controller_schematic_id',
      },
    });
    expect(problems).toEqual([]);
  });

  it('a var file Terraform loads only when told: named as the versions file and among terraform.varFiles', async () => {
    const notes: string[] = [];
    const files = [{ path: 'terraform/prod.tfvars', text: 'talos_version = "1.11.3"\n', json: {} }];
    files[0] = {
      ...files[0],
      json: await parseHcl('prod.tfvars', files[0]?.text ?? ''),
    } as (typeof files)[0];
    expect(versionsSection(files, running, [], notes)).toEqual({
      file: 'terraform/prod.tfvars',
      variables: { talos: 'talos_version' },
      varFile: 'prod.tfvars',
    });
    expect(notes.join('\n')).toMatch(/loaded only when given with -var-file/);
    // Two var files at the running version: which one is this cluster's is the user's to say.
    const problems: string[] = [];
    const two = [...files, { ...files[0], path: 'terraform/staging.tfvars' }] as typeof files;
    expect(versionsSection(two, running, problems, [])).toBeUndefined();
    expect(problems.join('\n')).toMatch(/several var files set the Talos version/);
  });

  it('versions as attributes of one object in a tfvars file: named by their paths, read back as a merge is', async () => {
    const problems: string[] = [];
    const notes: string[] = [];
    const text =
      'cluster = {\n  name = "homelab"\n  talos_version = "v1.11.3"\n  kubernetes_version = "1.34.1"\n' +
      `  controller_schematic_id = "${'a'.repeat(64)}"\n}\nstaging = {\n  kubernetes_version = "1.34.1"\n}\n`;
    expect(versionsSection(await tfvars(text), running, problems, notes)).toEqual({
      file: 'terraform/terraform.tfvars',
      variables: {
        talos: 'cluster.talos_version',
        kubernetes: 'cluster.kubernetes_version',
        controllerSchematic: 'cluster.controller_schematic_id',
      },
    });
    expect(problems).toEqual([]);
    expect(notes.join('\n')).toMatch(
      /an attribute of an object \(terraform\/terraform\.tfvars: cluster\.talos_version\)/,
    );
  });

  it('two objects of one file holding a version under one attribute name, at any value: refused, they cannot be told apart', async () => {
    const problems: string[] = [];
    const text = 'prod = {\n  talos_version = "1.11.3"\n}\nstaging = {\n  talos_version = "1.12.0"\n}\n';
    expect(versionsSection(await tfvars(text), running, problems, [])).toBeUndefined();
    expect(problems.join('\n')).toMatch(
      /holds a Talos version as prod\.talos_version and staging\.talos_version: .*Give each cluster its own name/,
    );
  });

  it("an object variable at another version: the whole object, only the version changed, in the file's form", async () => {
    const text = 'cluster = {\n  name = "homelab"\n  sizes = { cp = 4 }\n  talos_version = "v1.11.3"\n}\n';
    const json = await parseHcl('cluster.auto.tfvars', text);
    expect(objectOverride(json, 'terraform/cluster.auto.tfvars', 'cluster.talos_version', '1.12.0')).toEqual({
      variable: 'cluster',
      value: { name: 'homelab', sizes: { cp: 4 }, talos_version: 'v1.12.0' },
    });
    // In a variable's default of a .tf file, and nested one level deeper.
    const tf = await parseHcl(
      'variables.tf',
      'variable "cluster" {\n  default = { versions = { talos = "1.11.3" } }\n}\n',
    );
    expect(objectOverride(tf, 'terraform/variables.tf', 'cluster.versions.talos', 'v1.12.0')).toEqual({
      variable: 'cluster',
      value: { versions: { talos: '1.12.0' } },
    });
    expect(objectOverride(json, 'terraform/cluster.auto.tfvars', 'homelab.talos_version', '1.12.0')).toMatch(
      /does not set homelab as an object/,
    );
    expect(objectOverride(json, 'terraform/cluster.auto.tfvars', 'cluster.talos', '1.12.0')).toMatch(
      /has no string at cluster\.talos/,
    );
  });

  it("a version given to Terraform keeps the file's form: with its v where the file writes one", () => {
    expect(writtenTalosVersion('# pinned\ntalos_version = "v1.11.3"\n')).toBe('v1.11.3');
    expect(writtenTalosVersion('variable "talos_version" {\n  default = "1.11.3"\n}\n')).toBe('1.11.3');
    expect(inWrittenForm('1.12.0', 'v1.11.3')).toBe('v1.12.0');
    expect(inWrittenForm('1.12.0', '1.11.3')).toBe('1.12.0');
    expect(inWrittenForm('v1.12.0', '1.11.3')).toBe('1.12.0');
    expect(inWrittenForm('1.12.0', undefined)).toBe('1.12.0');
  });
});

describe("the repository's patches a node's config carries", () => {
  const running = {
    version: 'v1alpha1',
    machine: {
      token: 'secret',
      sysctls: { 'vm.nr_hugepages': '0', 'net.core.somaxconn': '65535' },
      time: { servers: ['pool.ntp.org', 'time.cloudflare.com'] },
      files: [
        { path: '/var/cri/conf.d/20-customization.part', op: 'create', content: 'runtime_type = "runc"\n' },
        { path: '/var/etc/nvidia/config.toml', op: 'create', content: 'no-cgroups = true\n' },
      ],
    },
  };

  it('a patch stands in a config when every value it sets does: maps by key, list items anywhere, "0" as 0', () => {
    expect(standsIn({ machine: { sysctls: { 'vm.nr_hugepages': 0 } } }, running)).toBe(true);
    expect(standsIn({ machine: { time: { servers: ['time.cloudflare.com'] } } }, running)).toBe(true);
    expect(standsIn({ machine: { files: [running.machine.files[1]] } }, running)).toBe(true);
    // Another content at the same path, a value the config does not hold, a delete: not carried.
    const otherContent = { ...running.machine.files[1], content: 'no-cgroups = false\n' };
    expect(standsIn({ machine: { files: [otherContent] } }, running)).toBe(false);
    expect(standsIn({ machine: { sysctls: { 'vm.swappiness': '10' } } }, running)).toBe(false);
    expect(standsIn({ machine: { network: { $patch: 'delete' } } }, running)).toBe(false);
    expect(carriesPatch([{ machine: { time: { servers: ['time.google.com'] } } }], running)).toBe(false);
  });

  it('only patches are candidates: not manifests, not SOPS-encrypted files, not whole configs with secrets', () => {
    expect(patchDocuments([{ apiVersion: 'v1', kind: 'ConfigMap' }])).toBeUndefined();
    expect(patchDocuments([{ machine: { files: [] }, sops: { mac: 'x' } }])).toBeUndefined();
    expect(patchDocuments([{ version: 'v1alpha1', machine: { token: 't', ca: {} } }])).toBeUndefined();
    // Secrets anywhere the secrets bundle puts them: a control plane's config without its machine section.
    expect(patchDocuments([{ cluster: { etcd: { ca: { crt: 'c', key: 'k' } } } }])).toBeUndefined();
    expect(patchDocuments([{ cluster: { serviceAccount: { key: 'k' } } }])).toBeUndefined();
    expect(patchDocuments([{ cluster: { token: 'abc.def' } }])).toBeUndefined();
    expect(patchDocuments([{ cluster: { aggregatorCA: { crt: 'c' } } }])).toBeUndefined();
    // A patch that sets nothing (everything in it commented out) would stand in every node.
    expect(patchDocuments([{ machine: { sysctls: {}, kubelet: null } }])).toBeUndefined();
    const sysctl = { machine: { sysctls: { 'vm.nr_hugepages': '0' } } };
    expect(patchDocuments([sysctl, { apiVersion: 'v1alpha1', kind: 'X' }])).toEqual([sysctl]);
    expect(
      patchDocuments([{ cluster: { etcd: { extraArgs: { 'election-timeout': '5000' } } } }]),
    ).toHaveLength(1);
  });

  const node = (
    name: string,
    role: DiscoveredNode['role'],
    extra: Partial<DiscoveredNode>,
  ): DiscoveredNode => ({
    name,
    role,
    ip: `10.0.0.${(role === 'worker' ? 20 : 10) + Number(name.at(-1))}`,
    kubeletVersion: '1.34.1',
    talosVersion: '1.11.3',
    installer: {
      form: 'factory.talos.dev/metal-installer/{schematic}:v{version}',
      schematic: 'a'.repeat(64),
      version: '1.11.3',
    },
    extraKernelArgs: [],
    leftOutKernelArgs: { notBooted: [], secret: 0 },
    nics: [{ name: 'ens18', vlan: 'native' }],
    extraVlans: [],
    gpus: 0,
    patches: ['talos/patches/global.yaml'],
    ...extra,
  });

  /** init's inventory of the cluster `home` with these nodes and no Terraform. */
  const draftOf = (nodes: DiscoveredNode[], more: Partial<DraftInput> = {}) =>
    draftInventory({
      cluster: 'home',
      discovered: { namespaces: new Set(), nodes },
      machineConfigs: {},
      backups: '/var/lib/talos-upgrade/backups/home',
      ...more,
    });

  it("init's inventory: a patch on every node is global, a GPU node's own are its GPU patches with its label's model", () => {
    const draft = draftOf(
      [
        node('cp-1', 'controlplane', {}),
        // Two GPU workers with copies of one patch: each carries both files; each path names its node.
        node('wk-1', 'worker', {
          gpus: 1,
          gpuProduct: 'NVIDIA-RTX-A2000-12GB',
          patches: [
            'talos/patches/global.yaml',
            'talos/patches/wk-1/nvidia.yaml',
            'talos/patches/wk-4/nvidia.yaml',
          ],
        }),
        node('wk-4', 'worker', {
          gpus: 1,
          gpuProduct: 'NVIDIA-RTX-A5000-24GB',
          patches: [
            'talos/patches/global.yaml',
            'talos/patches/wk-1/nvidia.yaml',
            'talos/patches/wk-4/nvidia.yaml',
          ],
        }),
        node('wk-2', 'worker', { gpus: 1 }),
        node('wk-3', 'worker', { patches: ['talos/patches/global.yaml', 'talos/extra.yaml'] }),
      ],
      { repository: 'homelab/home', defaultBranch: 'trunk' },
    );
    expect(draft.problems).toEqual([]);
    const parsed = parseInventory(draft.text);
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
    const { inventory } = parsed;
    expect(inventory.policy.globalPatches).toEqual(['talos/patches/global.yaml']);
    expect(inventory.repository).toEqual({ github: 'homelab/home', defaultBranch: 'trunk' });
    expect(inventory.nodes.find((n) => n.name === 'wk-1')?.gpu).toEqual({
      model: 'NVIDIA-RTX-A2000-12GB',
      patches: ['talos/patches/wk-1/nvidia.yaml'],
    });
    expect(inventory.nodes.find((n) => n.name === 'wk-4')?.gpu?.patches).toEqual([
      'talos/patches/wk-4/nvidia.yaml',
    ]);
    // A GPU node carrying no patch of the repository, and a patch of one node that is no GPU's: said.
    expect(inventory.nodes.find((n) => n.name === 'wk-2')?.gpu).toBeUndefined();
    expect(draft.notes.join('\n')).toMatch(/wk-2 offers 1 nvidia\.com\/gpu but its config carries no patch/);
    expect(draft.notes.join('\n')).toMatch(
      /wk-3's config carries talos\/extra\.yaml, which the inventory applies to no node/,
    );
  });

  it("templates: a bpg/proxmox VM with template = true by its VM name, a module that says template by its key; other VMs and a template's image are none", () => {
    const resources = stateResources(
      show(
        [
          vm('proxmox_virtual_environment_vm.node["cp-1"]', { name: 'cp-1' }, 'cp-1'),
          vm('proxmox_virtual_environment_vm.node["wk-1"]', { name: 'wk-1' }, 'wk-1'),
          // Named by nothing that says template or a role: Proxmox's own mark tells.
          vm('proxmox_virtual_environment_vm.golden', { name: 'Talos Golden', template: true }),
          vm('proxmox_virtual_environment_vm.jumpbox', { name: 'jumpbox', template: false }),
          // A template's image, not a template.
          vm('proxmox_virtual_environment_download_file.talos_template_image', { file_name: 'talos.img' }),
          // Another template of the same name (one per Proxmox host): named apart.
          vm('proxmox_virtual_environment_vm.golden_pve2', { name: 'Talos Golden', template: true }),
        ],
        [
          {
            address: 'module.templates["pve-2"]',
            resources: [vm('module.templates["pve-2"].terraform_data.template', { input: {} })],
          },
        ],
      ),
    );
    const draft = draftOf([node('cp-1', 'controlplane', {}), node('wk-1', 'worker', {})], {
      terraform: { directory: 'terraform', resources, files: [] },
    });
    const templates = (parse(draft.text.replace(/^#.*$/gm, '')) as { terraform?: { templates?: unknown } })
      .terraform?.templates;
    expect(templates).toEqual([
      { name: 'talos-golden', address: 'proxmox_virtual_environment_vm.golden' },
      { name: 'talos-golden-2', address: 'proxmox_virtual_environment_vm.golden_pve2' },
      { name: 'pve-2', address: 'module.templates["pve-2"]' },
    ]);
  });

  it("a node's schematic is its image's: a GPU worker moved to its drivers with talosctl upgrade --image keeps them; the stale config is said", () => {
    const [plain, nvidia] = ['a'.repeat(64), 'b'.repeat(64)];
    const draft = draftOf([
      node('cp-1', 'controlplane', {}),
      node('wk-1', 'worker', {}),
      node('wk-2', 'worker', {}),
      // Its config still names the workers' installer (plain); its image runs its own.
      node('wk-3', 'worker', { runningSchematic: nvidia, gpus: 1 }),
      // No factory installer in its config: its image still says its schematic, the form is the others'.
      node('wk-4', 'worker', {
        installer: undefined,
        installImage: 'ghcr.io/siderolabs/installer:v1.11.3',
        runningSchematic: plain,
      }),
    ]);
    expect(draft.problems).toEqual([]);
    const parsed = parseInventory(draft.text);
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
    const { inventory } = parsed;
    expect(inventory.images.schematics).toEqual({ controlplane: plain, worker: plain });
    expect(inventory.nodes.map((n) => [n.name, n.schematic])).toEqual([
      ['cp-1', undefined],
      ['wk-1', undefined],
      ['wk-2', undefined],
      ['wk-3', nvidia],
      ['wk-4', undefined],
    ]);
    expect(draft.notes.join('\n')).toMatch(
      /wk-3: machine\.install\.image names another schematic than the node runs \(talosctl get extensions\)/,
    );
  });
});
