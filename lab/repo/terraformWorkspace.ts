import { copyFile, link, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LabState } from '../state/labState.js';

/** The release of siderolabs/talos whose resource the lab's provider plays (lab/terraform-provider-talos). */
export const TALOS_PROVIDER_VERSION = '0.11.0';

/** The release of bpg/proxmox whose resources the lab's provider plays (lab/terraform-provider-proxmox). */
export const PROXMOX_PROVIDER_VERSION = '0.111.1';

/** Each node's schematic and each role's, in the for_each shapes' locals (nodes.auto.tfvars). */
const SCHEMATICS = `  # Each node's own schematic (a GPU worker's drivers), else its role's.
  schematics = {
    for name, node in var.nodes : name => coalesce(
      node.schematic,
      node.role == "controlplane" ? var.controller_schematic_id : var.worker_schematic_id,
    )
  }
  roles = { controlplane = var.controller_schematic_id, worker = var.worker_schematic_id }
  # The images each Proxmox host needs, "<host>/<schematic>": its VMs' and its clone sources'.
  images = {
    for image in distinct(concat(
      [for name, node in var.nodes : { host = node.host, schematic = local.schematics[name] }],
      [for name, source in var.clone_sources : { host = source.host, schematic = local.roles[source.role] }],
    )) : "\${image.host}/\${image.schematic}" => image
  }`;

/**
 * The Image Factory's disk image of each schematic in use, at the version (a new version, a new file),
 * on each host that makes VMs from it: `local` storage is the host's own, so a VM imports only a file
 * its own host downloaded.
 */
const DOWNLOAD_PER_SCHEMATIC = `# One disk image per host and schematic in use, at the version.
resource "proxmox_virtual_environment_download_file" "talos" {
  for_each                = local.images
  content_type            = "iso"
  datastore_id            = "local"
  node_name               = each.value.host
  url                     = "\${var.image_factory}/image/\${each.value.schematic}/v\${var.talos_version}/nocloud-amd64.raw.zst"
  file_name               = "talos-v\${var.talos_version}-\${substr(each.value.schematic, 0, 12)}-nocloud-amd64.img"
  decompression_algorithm = "zst"
}
`;

/** A node's image (for_each over var.nodes) and a clone source's (over var.clone_sources). */
const NODE_IMAGE =
  'proxmox_virtual_environment_download_file.talos["${each.value.host}/${local.schematics[each.key]}"].id';
const SOURCE_IMAGE =
  'proxmox_virtual_environment_download_file.talos["${each.value.host}/${local.roles[each.value.role]}"].id';

/** A root's pinned providers (bpg/proxmox, and siderolabs/talos for config applies) and Proxmox's endpoint. */
function rootProviders(talos = false): string {
  const talosProvider = talos
    ? `
    talos = {
      source  = "siderolabs/talos"
      version = "${TALOS_PROVIDER_VERSION}"
    }`
    : '';
  return `terraform {
  required_version = ">= 1.5.0"
  required_providers {
    proxmox = {
      source  = "bpg/proxmox"
      version = "${PROXMOX_PROVIDER_VERSION}"
    }${talosProvider}
  }
}

provider "proxmox" {
  endpoint = var.proxmox_endpoint
  insecure = true
}
`;
}

/** The bpg/proxmox provider as a module requires it (the root pins its version). */
const MODULE_PROVIDERS = `terraform {
  required_providers {
    proxmox = {
      source = "bpg/proxmox"
    }
  }
}
`;

/**
 * The module-per-node shape: a VM module the root calls once per node (`module.nodes["k8s-work-5"]`)
 * and once per clone source (`module.templates["baldar-worker"]`), as users who keep a node's VM in a
 * module of its own write it. Inside, the lab's build of bpg/proxmox's VM; the disk image is the
 * root's download of the node's schematic at the version, passed in as a file id: a new version is a
 * new file, so a new disk, so a new VM (the cattle strategy).
 */
const NODE_MODULE = `${MODULE_PROVIDERS}
variable "name" { type = string }
variable "host" { type = string }
variable "role" { type = string }
variable "ip" { type = string }
variable "gateway" { type = string }
variable "image_file_id" { type = string }

resource "proxmox_virtual_environment_vm" "vm" {
  name      = var.name
  node_name = var.host
  tags      = ["talos", var.role]

${vmHardware('var.image_file_id', 'var.ip')}
}

output "vm_id" { value = proxmox_virtual_environment_vm.vm.vm_id }
`;

const TEMPLATE_MODULE = `${MODULE_PROVIDERS}
variable "name" { type = string }
variable "host" { type = string }
variable "role" { type = string }
variable "image_file_id" { type = string }

# A Proxmox template new nodes are cloned from: made from the role's image and never started.
resource "proxmox_virtual_environment_vm" "template" {
  name      = var.name
  node_name = var.host
  template  = true
  started   = false
  tags      = ["talos", var.role]

${diskAndNic('var.image_file_id')}
}
`;

const ROOT = `${rootProviders()}
locals {
${SCHEMATICS}
}

${DOWNLOAD_PER_SCHEMATIC}
module "nodes" {
  source        = "./modules/node"
  for_each      = var.nodes
  name          = each.key
  host          = each.value.host
  role          = each.value.role
  ip            = each.value.ip
  gateway       = var.gateway
  image_file_id = ${NODE_IMAGE}
}

# The clone sources new nodes are made from, one per role and host (terraform.tfvars).
module "templates" {
  source        = "./modules/template"
  for_each      = var.clone_sources
  name          = each.key
  host          = each.value.host
  role          = each.value.role
  image_file_id = ${SOURCE_IMAGE}
}
`;

const NODES_VARIABLE = `# The cluster's VMs (nodes.auto.tfvars): each node's role, address and Proxmox host, its own schematic
# where its role's would not do, and where a config apply per node configures it, its kernel arguments
# and patches.
variable "nodes" {
  type = map(object({
    role        = string
    schematic   = optional(string)
    ip          = string
    host        = string
    kernel_args = optional(list(string), [])
    patches     = optional(list(string), [])
  }))
}

`;

export function variablesTf(state: LabState, talosVersion: string, kubernetesVersion: string): string {
  const [controller, worker] = [
    mostCommonSchematic(state, 'controlplane'),
    mostCommonSchematic(state, 'worker'),
  ];
  return `# Versions of the cluster; Renovate bumps them and the merge upgrades the cluster.
variable "talos_version" {
  type    = string
  default = "${talosVersion}"
}

variable "kubernetes_version" {
  type    = string
  default = "${kubernetesVersion}"
}

variable "controller_schematic_id" {
  type    = string
  default = "${controller ?? ''}"
}

variable "worker_schematic_id" {
  type    = string
  default = "${worker ?? controller ?? ''}"
}

${NODES_VARIABLE}${PROXMOX_VARIABLES}`;
}

/**
 * nodes.auto.tfvars: the VMs as the repository's users list them, each node's address and Proxmox host, its
 * own schematic written where it is not its role's (the role's schematic ids are variables); for config
 * applies, each node's kernel arguments and patch files (from the repository's root).
 */
function nodesTfvars(state: LabState, configApply?: ConfigApplyInputs): string {
  const common = {
    controlplane: mostCommonSchematic(state, 'controlplane'),
    worker: mostCommonSchematic(state, 'worker') ?? mostCommonSchematic(state, 'controlplane'),
  };
  const rows = state.nodes
    .filter((n) => n.terraformAddress)
    .map((n) => {
      const hcl = (value: unknown) => JSON.stringify(value).replaceAll('","', '", "');
      const fields = [
        `role = ${hcl(n.role)}`,
        ...(n.schematic !== common[n.role] ? [`schematic = ${hcl(n.schematic)}`] : []),
        `ip = ${hcl(n.ip)}`,
        `host = ${hcl(n.proxmoxHost)}`,
        ...(configApply?.kernelArgs[n.name]?.length
          ? [`kernel_args = ${hcl(configApply.kernelArgs[n.name])}`]
          : []),
        ...(configApply?.patches[n.name]?.length ? [`patches = ${hcl(configApply.patches[n.name])}`] : []),
      ];
      return `  ${hcl(n.name)} = { ${fields.join(', ')} }`;
    });
  return `nodes = {\n${rows.join('\n')}\n}\n`;
}

/** The schematic most of a role's nodes run: the role's, in the variables' defaults. */
function mostCommonSchematic(state: LabState, role: string): string | undefined {
  const counts = new Map<string, number>();
  for (const n of state.nodes.filter((node) => node.role === role))
    counts.set(n.schematic, (counts.get(n.schematic) ?? 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
}

/** A VM's disk, imported from `fileId` (a download_file), and its NIC. */
function diskAndNic(fileId: string): string {
  return `  disk {
    datastore_id = "local-lvm"
    file_id      = ${fileId}
    interface    = "virtio0"
    size         = 40
  }
  network_device {
    bridge = "vmbr0"
  }`;
}

/** A bpg/proxmox VM's hardware: its disk imported from `fileId` (a download_file), its address `ip`. */
function vmHardware(fileId: string, ip: string): string {
  return `  cpu {
    cores = 4
  }
  memory {
    dedicated = 8192
  }
${diskAndNic(fileId)}
  initialization {
    ip_config {
      ipv4 {
        address = "\${${ip}}/24"
        gateway = var.gateway
      }
    }
  }`;
}

/**
 * The clone sources new nodes are made from: a Proxmox template per role and host (clone_sources in
 * terraform.tfvars), made from the role's image (`fileId`) and never started.
 */
function cloneSourceResource(fileId: string): string {
  return `# The clone sources new nodes are made from: a Proxmox template per role and host, made from the
# role's image and never started.
resource "proxmox_virtual_environment_vm" "clone_source" {
  for_each  = var.clone_sources
  name      = each.key
  node_name = each.value.host
  template  = true
  started   = false
  tags      = ["talos", each.value.role]

${diskAndNic(fileId)}
}
`;
}

/** Where Proxmox and the Image Factory are, and the clone sources: the bpg/proxmox shapes' variables. */
const PROXMOX_VARIABLES = `variable "proxmox_endpoint" { type = string }
variable "image_factory" {
  type    = string
  default = "https://factory.talos.dev"
}
variable "gateway" { type = string }
variable "clone_sources" {
  type    = map(object({ host = string, role = string }))
  default = {}
}
`;

/**
 * The other shape users write: no module per node, bpg/proxmox VMs by `for_each` over nodes.auto.tfvars,
 * and the siderolabs/talos provider's talos_machine_configuration_apply per node, which configures each
 * VM in the same apply that creates it (both are the node's addresses, so its destroy and create take
 * both). A VM boots the Image Factory's disk image of its schematic at the version (a GPU worker's own
 * schematic, else its role's): a new version is a new download_file, so a new disk, so a new VM. Its
 * client certificates come from the talosconfig, as a user's come from talos_machine_secrets; the
 * global patches and a GPU node's own go in config_patches.
 */
const CONFIG_APPLY_ROOT = `${rootProviders(true)}
locals {
  lab         = jsondecode(file("\${path.module}/lab.json"))
  talosconfig = yamldecode(file(local.lab.talosconfig))
  context     = local.talosconfig.contexts[local.talosconfig.context]
${SCHEMATICS}
}

${DOWNLOAD_PER_SCHEMATIC}
resource "proxmox_virtual_environment_vm" "node" {
  for_each  = var.nodes
  name      = each.key
  node_name = each.value.host
  tags      = ["talos", each.value.role]

${vmHardware(NODE_IMAGE, 'each.value.ip')}
}

# No reference to the VMs: a dependency on them would make a targeted destroy of one VM take every
# node's config apply along (Terraform orders by resource, not by instance). Created beside its VM, it
# retries until the VM answers in maintenance mode.
resource "talos_machine_configuration_apply" "node" {
  for_each = var.nodes
  node     = each.value.ip
  client_configuration = {
    ca_certificate     = local.context.ca
    client_certificate = local.context.crt
    client_key         = local.context.key
  }
  machine_configuration_input = file(local.lab.machine_configs[each.value.role])
  # As users patch per node: the Image Factory installer of its schematic, its kernel arguments, the
  # global patches and a GPU node's own.
  config_patches = concat(
    [yamlencode({
      machine = {
        install = {
          image           = "\${local.lab.installer_base}/\${local.schematics[each.key]}:v\${var.talos_version}"
          extraKernelArgs = each.value.kernel_args
        }
      }
    })],
    [for patch in each.value.patches : file("\${path.module}/../\${patch}")],
  )
}

${cloneSourceResource(SOURCE_IMAGE)}`;

/**
 * A third shape users write: bpg/proxmox VMs by `count` per role, from lists in terraform.tfvars,
 * each booted from the Image Factory's disk image of its role's schematic at the version the tfvars
 * name. A new version is a new url, so a new download_file (its url requires replacement), so a new
 * VM (a disk's file_id does too): that is what recreates a node. The versions live only in
 * terraform.tfvars, Talos's with a leading v; variables.tf declares them without defaults.
 */
const COUNT_ROOT = `${rootProviders()}
locals {
  schematics = { controlplane = var.controller_schematic_id, worker = var.worker_schematic_id }
  # Each Proxmox host's images, "<host>/<role>": its local storage is its own.
  images = {
    for image in distinct(concat(
      [for vm in var.controlplanes : { host = vm.host, role = "controlplane" }],
      [for vm in var.workers : { host = vm.host, role = "worker" }],
      [for name, source in var.clone_sources : { host = source.host, role = source.role }],
    )) : "\${image.host}/\${image.role}" => image
  }
}

resource "proxmox_virtual_environment_download_file" "talos" {
  for_each                = local.images
  content_type            = "iso"
  datastore_id            = "local"
  node_name               = each.value.host
  url                     = "\${var.image_factory}/image/\${local.schematics[each.value.role]}/\${var.talos_version}/nocloud-amd64.raw.zst"
  file_name               = "talos-\${var.talos_version}-\${each.value.role}-nocloud-amd64.img"
  decompression_algorithm = "zst"
}

${cloneSourceResource('proxmox_virtual_environment_download_file.talos["${each.value.host}/${each.value.role}"].id')}
${['controlplane', 'worker']
  .map(
    (role) => `resource "proxmox_virtual_environment_vm" "${role}" {
  count     = length(var.${role}s)
  name      = var.${role}s[count.index].name
  node_name = var.${role}s[count.index].host
  tags      = ["talos", "${role}"]

${vmHardware(`proxmox_virtual_environment_download_file.talos["\${var.${role}s[count.index].host}/${role}"].id`, `var.${role}s[count.index].ip`)}
}
`,
  )
  .join('\n')}`;

const COUNT_VARIABLES = `variable "talos_version" { type = string }
variable "kubernetes_version" { type = string }
variable "controller_schematic_id" { type = string }
variable "worker_schematic_id" { type = string }

variable "controlplanes" {
  type = list(object({ name = string, ip = string, host = string }))
}
variable "workers" {
  type    = list(object({ name = string, ip = string, host = string }))
  default = []
}

${PROXMOX_VARIABLES}`;

/** An HCL string literal (JSON's escapes are HCL's). */
const hclString = (value: string) => JSON.stringify(value);

/** The count shape's terraform.tfvars: the cluster's versions and nodes, as its users keep them. */
function countTfvars(state: LabState, proxmox: ProxmoxInputs): string {
  const hcl = hclString;
  const list = (role: string) =>
    state.nodes
      .filter((n) => n.role === role)
      .map((n) => `  { name = ${hcl(n.name)}, ip = ${hcl(n.ip)}, host = ${hcl(n.proxmoxHost)} },`)
      .join('\n');
  const schematic = (role: string) => mostCommonSchematic(state, role) ?? state.nodes[0]?.schematic ?? '';
  return `# Renovate bumps the versions (renovate.json); the merge upgrades the cluster.
talos_version           = "v${state.nodes[0]?.talosVersion ?? ''}"
kubernetes_version      = "${state.kubernetesVersion}"
controller_schematic_id = "${schematic('controlplane')}"
worker_schematic_id     = "${schematic('worker')}"

proxmox_endpoint = ${hcl(proxmox.endpoint)}
image_factory    = ${hcl(proxmox.imageFactory)}
gateway          = ${hcl(state.nodes[0]?.ip.replace(/\.\d+$/, '.1') ?? '')}

controlplanes = [
${list('controlplane')}
]

workers = [
${list('worker')}
]
${cloneSources(state)}`;
}

/** The count shape's templates (clone_sources in terraform.tfvars): each one's Proxmox host and role. */
function cloneSources(state: LabState): string {
  const rows = state.templates.map(
    (t) => `  ${hclString(t.name)} = { host = ${hclString(t.host)}, role = ${hclString(t.role)} }`,
  );
  return rows.length ? `\nclone_sources = {\n${rows.join('\n')}\n}\n` : '';
}

export interface ProxmoxInputs {
  /** The lab's provider binary, put in the workspace's own provider mirror (terraform.d/plugins). */
  provider: string;
  /** The lab daemon's API for this cluster, where a Proxmox host's API would be. */
  endpoint: string;
  /** The lab registry, which serves the Image Factory's disk images. */
  imageFactory: string;
}

/** How the lab's repository lays out its Terraform (docs/lab.md). */
export type TerraformShape = 'module-per-node' | 'config-apply' | 'count-per-role' | 'count-versions-object';
export const TERRAFORM_SHAPES: readonly TerraformShape[] = [
  'module-per-node',
  'config-apply',
  'count-per-role',
  'count-versions-object',
];
export const isTerraformShape = (shape: string): shape is TerraformShape =>
  (TERRAFORM_SHAPES as readonly string[]).includes(shape);

export interface ConfigApplyInputs {
  /** The lab's provider binary, put in the workspace's own provider mirror (terraform.d/plugins). */
  provider: string;
  talosconfig: string;
  machineConfigs: { controlplane: string; worker: string };
  /** Patch files per node (the global ones, then a GPU node's), from the repository's root. */
  patches: Record<string, string[]>;
  /** The installer image without its schematic and tag (<registry>/nocloud-installer). */
  installerBase: string;
  /** Each node's extra kernel arguments (machine.install.extraKernelArgs). */
  kernelArgs: Record<string, string[]>;
}

/**
 * A provider binary in the workspace's implied local mirror: terraform.d/plugins/<host>/<ns>/<type>/<version>/<os_arch>,
 * under both registries' hosts: Terraform resolves `bpg/proxmox` to registry.terraform.io, OpenTofu to
 * registry.opentofu.org (TALOS_LAB_TERRAFORM may pick either).
 */
async function mirrorProvider(dir: string, source: string, version: string, binary: string): Promise<void> {
  const arch = ({ x64: 'amd64', arm64: 'arm64' } as Record<string, string>)[process.arch] ?? process.arch;
  const [namespace = '', type = ''] = source.split('/');
  const [copy = '', ...links] = ['registry.terraform.io', 'registry.opentofu.org'].map((host) =>
    join(dir, 'terraform.d', 'plugins', host, namespace, type, version, `${process.platform}_${arch}`),
  );
  const file = `terraform-provider-${type}_v${version}`;
  await mkdir(copy, { recursive: true });
  await copyFile(binary, join(copy, file));
  // One copy on disk: the other registry's entry is a hard link to it.
  for (const folder of links) {
    await mkdir(folder, { recursive: true });
    await link(join(copy, file), join(folder, file));
  }
}

/** The version values of the count shape, each a variable of its own there. */
const COUNT_VERSION_VALUES = [
  'talos_version',
  'kubernetes_version',
  'controller_schematic_id',
  'worker_schematic_id',
];

/**
 * The count shape with its versions as attributes of one object, `cluster` in cluster.auto.tfvars, as
 * users who keep a cluster's settings together write it: the root reads `var.cluster.talos_version`,
 * and terraform.tfvars keeps only the nodes and the Proxmox settings.
 */
function inOneObject(files: { root: string; variables: string; tfvars: string }, name: string) {
  const attribute = new RegExp(`^(${COUNT_VERSION_VALUES.join('|')})( *= .*)$`, 'gm');
  const versions = [...files.tfvars.matchAll(attribute)].map((m) => `  ${m[1]}${m[2]}`);
  return {
    root: COUNT_VERSION_VALUES.reduce(
      (text, value) => text.replaceAll(`var.${value}`, `var.cluster.${value}`),
      files.root,
    ),
    variables: `variable "cluster" {
  type = object({
    name                    = string
    talos_version           = string
    kubernetes_version      = string
    controller_schematic_id = string
    worker_schematic_id     = string
  })
}
${files.variables.replace(/^variable "(talos_version|kubernetes_version|controller_schematic_id|worker_schematic_id)" .*\n/gm, '')}`,
    tfvars: files.tfvars.replace(attribute, '').replace(/^# Renovate bumps.*\n\n*/m, ''),
    auto: `# Renovate bumps the versions (renovate.json); the merge upgrades the cluster.
cluster = {
  name                    = ${JSON.stringify(name)}
${versions.join('\n')}
}
`,
  };
}

/**
 * The count-per-role shapes: bpg/proxmox VMs, the nodes in terraform.tfvars, the versions there too
 * (each a variable) or, `versionsInObject`, as attributes of one object in cluster.auto.tfvars.
 */
export async function writeCountWorkspace(
  dir: string,
  state: LabState,
  proxmox: ProxmoxInputs,
  versionsInObject = false,
): Promise<void> {
  await mkdir(dir, { recursive: true });
  await mirrorProvider(dir, 'bpg/proxmox', PROXMOX_PROVIDER_VERSION, proxmox.provider);
  const files = { root: COUNT_ROOT, variables: COUNT_VARIABLES, tfvars: countTfvars(state, proxmox) };
  const written = versionsInObject ? inOneObject(files, state.cluster) : { ...files, auto: undefined };
  await writeFile(join(dir, 'main.tf'), written.root);
  await writeFile(join(dir, 'variables.tf'), written.variables);
  await writeFile(join(dir, 'terraform.tfvars'), written.tfvars);
  if (written.auto) await writeFile(join(dir, 'cluster.auto.tfvars'), written.auto);
}

/**
 * The for_each shapes: module-per-node, or with `configApply` the config-apply shape (VMs and a
 * talos_machine_configuration_apply per node in the root). Both list the nodes in nodes.auto.tfvars
 * and keep the Proxmox settings and clone sources in terraform.tfvars.
 */
export async function writeTerraformWorkspace(
  dir: string,
  state: LabState,
  proxmox: ProxmoxInputs,
  configApply?: ConfigApplyInputs,
): Promise<void> {
  await mkdir(dir, { recursive: true });
  await mirrorProvider(dir, 'bpg/proxmox', PROXMOX_PROVIDER_VERSION, proxmox.provider);
  await writeFile(
    join(dir, 'variables.tf'),
    variablesTf(state, state.nodes[0]?.talosVersion ?? '', state.kubernetesVersion),
  );
  await writeFile(join(dir, 'nodes.auto.tfvars'), nodesTfvars(state, configApply));
  await writeFile(join(dir, 'terraform.tfvars'), proxmoxTfvars(state, proxmox));
  if (configApply) {
    await mirrorProvider(dir, 'siderolabs/talos', TALOS_PROVIDER_VERSION, configApply.provider);
    await writeFile(join(dir, 'main.tf'), CONFIG_APPLY_ROOT);
    // Lab only: the lab's own files; the nodes are in nodes.auto.tfvars, as users keep them.
    const lab = {
      talosconfig: configApply.talosconfig,
      installer_base: configApply.installerBase,
      machine_configs: configApply.machineConfigs,
    };
    await writeFile(join(dir, 'lab.json'), JSON.stringify(lab, null, 2));
    return;
  }
  await mkdir(join(dir, 'modules', 'node'), { recursive: true });
  await mkdir(join(dir, 'modules', 'template'), { recursive: true });
  await writeFile(join(dir, 'main.tf'), ROOT);
  await writeFile(join(dir, 'modules', 'node', 'main.tf'), NODE_MODULE);
  await writeFile(join(dir, 'modules', 'template', 'main.tf'), TEMPLATE_MODULE);
}

/** The for_each shapes' terraform.tfvars: where Proxmox and the Image Factory are, the clone sources. */
function proxmoxTfvars(state: LabState, proxmox: ProxmoxInputs): string {
  const hcl = hclString;
  return `proxmox_endpoint = ${hcl(proxmox.endpoint)}
image_factory    = ${hcl(proxmox.imageFactory)}
gateway          = ${hcl(state.nodes[0]?.ip.replace(/\.\d+$/, '.1') ?? '')}
${cloneSources(state)}`;
}
