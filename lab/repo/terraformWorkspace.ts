import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LabState } from '../state/labState.js';

/** The release of siderolabs/talos whose resource the lab's provider plays (lab/terraform-provider-talos). */
export const TALOS_PROVIDER_VERSION = '0.11.0';

/** The release of bpg/proxmox whose resources the lab's provider plays (lab/terraform-provider-proxmox). */
export const PROXMOX_PROVIDER_VERSION = '0.111.1';

/**
 * The module-per-node shape: one `terraform_data` per VM and per template, addressed like a real
 * Proxmox repository of VM modules (`module.nodes["k8s-work-5"]`, `module.templates["baldar-worker"]`).
 * Their local-exec provisioners ask the lab to create and destroy the simulated VMs, so the real
 * terraform CLI does the planning, the state, the locking and the `-json` output. The other shapes
 * (config-apply, count-per-role) use the lab's build of bpg/proxmox's resources instead.
 */
const NODE_MODULE = `variable "name" { type = string }
variable "talos_version" { type = string }
variable "schematic" { type = string }
variable "vm_tool" { type = string }
variable "adopt" { type = bool }

# Stands for a module's proxmox_virtual_environment_vm booted from the Image Factory's disk image of
# the schematic at the version: a new Talos version means a new VM, the cattle strategy.
resource "terraform_data" "vm" {
  triggers_replace = var.talos_version
  input            = { name = var.name, tool = var.vm_tool, talos_version = var.talos_version }

  provisioner "local-exec" {
    command = var.adopt ? "echo adopting running VM \${var.name}" : "\${var.vm_tool} create \${var.name} \${var.talos_version} \${var.schematic}"
  }

  provisioner "local-exec" {
    when    = destroy
    command = "\${self.input.tool} destroy \${self.input.name}"
  }
}

output "talos_version" { value = terraform_data.vm.output.talos_version }
`;

const TEMPLATE_MODULE = `variable "name" { type = string }
variable "talos_version" { type = string }
variable "vm_tool" { type = string }
variable "adopt" { type = bool }

resource "terraform_data" "template" {
  triggers_replace = var.talos_version
  input            = { name = var.name, talos_version = var.talos_version }

  provisioner "local-exec" {
    command = var.adopt ? "echo adopting template \${var.name}" : "\${var.vm_tool} build-template \${var.name} \${var.talos_version}"
  }
}
`;

/** The VM templates of the module shapes, one module instance each, listed in nodes.auto.tfvars. */
const TEMPLATES = `module "templates" {
  source        = "./modules/template"
  for_each      = toset(var.templates)
  name          = each.key
  talos_version = var.talos_version
  vm_tool       = local.lab.vm_tool
  adopt         = var.adopt
}
`;

const ROOT = `terraform {
  required_version = ">= 1.5.0"
}

locals {
  lab = jsondecode(file("\${path.module}/lab.json"))
}

module "nodes" {
  source        = "./modules/node"
  for_each      = var.nodes
  name          = each.key
  talos_version = var.talos_version
  # The node's own schematic (a GPU worker's drivers), else its role's.
  schematic = coalesce(
    each.value.schematic,
    each.value.role == "controlplane" ? var.controller_schematic_id : var.worker_schematic_id,
  )
  vm_tool = local.lab.vm_tool
  adopt   = var.adopt
}

${TEMPLATES}`;

const NODES_VARIABLE = `# The cluster's VMs (nodes.auto.tfvars): each node's role, its own schematic where its role's would
# not do, and where a config apply per node configures it, its address, kernel arguments and patches.
variable "nodes" {
  type = map(object({
    role        = string
    schematic   = optional(string)
    ip          = optional(string)
    host        = optional(string)
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

${NODES_VARIABLE}# The Proxmox templates new nodes are cloned from, rebuilt at each new version.
variable "templates" {
  type    = list(string)
  default = []
}

# Lab only: record VMs that are already running instead of creating them.
variable "adopt" {
  type    = bool
  default = false
}
`;
}

/**
 * nodes.auto.tfvars: the VMs as the repository's users list them, a node's own schematic written where it
 * is not its role's (the role's schematic ids are variables); for config applies, each node's address,
 * kernel arguments and patch files (from the repository's root).
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
        ...(configApply ? [`ip = ${hcl(n.ip)}`, `host = ${hcl(n.proxmoxHost)}`] : []),
        ...(configApply?.kernelArgs[n.name]?.length
          ? [`kernel_args = ${hcl(configApply.kernelArgs[n.name])}`]
          : []),
        ...(configApply?.patches[n.name]?.length ? [`patches = ${hcl(configApply.patches[n.name])}`] : []),
      ];
      return `  ${hcl(n.name)} = { ${fields.join(', ')} }`;
    });
  const templates = state.templates.map((t) => JSON.stringify(t.name)).join(', ');
  // The config-apply shape keeps its clone sources in terraform.tfvars, with their hosts.
  if (configApply) return `nodes = {\n${rows.join('\n')}\n}\n`;
  return `nodes = {\n${rows.join('\n')}\n}\n${templates ? `\ntemplates = [${templates}]\n` : ''}`;
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
variable "image_host" { type = string }
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
const CONFIG_APPLY_ROOT = `terraform {
  required_version = ">= 1.5.0"
  required_providers {
    proxmox = {
      source  = "bpg/proxmox"
      version = "${PROXMOX_PROVIDER_VERSION}"
    }
    talos = {
      source  = "siderolabs/talos"
      version = "${TALOS_PROVIDER_VERSION}"
    }
  }
}

provider "proxmox" {
  endpoint = var.proxmox_endpoint
  insecure = true
}

locals {
  lab         = jsondecode(file("\${path.module}/lab.json"))
  talosconfig = yamldecode(file(local.lab.talosconfig))
  context     = local.talosconfig.contexts[local.talosconfig.context]
  # Each node's own schematic (a GPU worker's drivers), else its role's.
  schematics = {
    for name, node in var.nodes : name => coalesce(
      node.schematic,
      node.role == "controlplane" ? var.controller_schematic_id : var.worker_schematic_id,
    )
  }
  roles = { controlplane = var.controller_schematic_id, worker = var.worker_schematic_id }
}

# One disk image per schematic in use, at the version.
resource "proxmox_virtual_environment_download_file" "talos" {
  for_each                = toset(concat(values(local.schematics), values(local.roles)))
  content_type            = "iso"
  datastore_id            = "local"
  node_name               = var.image_host
  url                     = "\${var.image_factory}/image/\${each.key}/v\${var.talos_version}/nocloud-amd64.raw.zst"
  file_name               = "talos-v\${var.talos_version}-\${substr(each.key, 0, 12)}-nocloud-amd64.img"
  decompression_algorithm = "zst"
}

resource "proxmox_virtual_environment_vm" "node" {
  for_each  = var.nodes
  name      = each.key
  node_name = each.value.host
  tags      = ["talos", each.value.role]

${vmHardware('proxmox_virtual_environment_download_file.talos[local.schematics[each.key]].id', 'each.value.ip')}
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

${cloneSourceResource('proxmox_virtual_environment_download_file.talos[local.roles[each.value.role]].id')}`;

/** The config-apply shape's Proxmox settings and clone sources (terraform.tfvars), beside variables.tf. */
const CONFIG_APPLY_VARIABLES = `
${PROXMOX_VARIABLES}`;

/**
 * A third shape users write: bpg/proxmox VMs by `count` per role, from lists in terraform.tfvars,
 * each booted from the Image Factory's disk image of its role's schematic at the version the tfvars
 * name. A new version is a new url, so a new download_file (its url requires replacement), so a new
 * VM (a disk's file_id does too): that is what recreates a node. The versions live only in
 * terraform.tfvars, Talos's with a leading v; variables.tf declares them without defaults.
 */
const COUNT_ROOT = `terraform {
  required_version = ">= 1.5.0"
  required_providers {
    proxmox = {
      source  = "bpg/proxmox"
      version = "${PROXMOX_PROVIDER_VERSION}"
    }
  }
}

provider "proxmox" {
  endpoint = var.proxmox_endpoint
  insecure = true
}

locals {
  schematics = { controlplane = var.controller_schematic_id, worker = var.worker_schematic_id }
}

resource "proxmox_virtual_environment_download_file" "talos" {
  for_each                = local.schematics
  content_type            = "iso"
  datastore_id            = "local"
  node_name               = var.image_host
  url                     = "\${var.image_factory}/image/\${each.value}/\${var.talos_version}/nocloud-amd64.raw.zst"
  file_name               = "talos-\${var.talos_version}-\${each.key}-nocloud-amd64.img"
  decompression_algorithm = "zst"
}

${cloneSourceResource('proxmox_virtual_environment_download_file.talos[each.value.role].id')}
${['controlplane', 'worker']
  .map(
    (role) => `resource "proxmox_virtual_environment_vm" "${role}" {
  count     = length(var.${role}s)
  name      = var.${role}s[count.index].name
  node_name = var.${role}s[count.index].host
  tags      = ["talos", "${role}"]

${vmHardware(`proxmox_virtual_environment_download_file.talos["${role}"].id`, `var.${role}s[count.index].ip`)}
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
image_host       = ${hcl(state.nodes[0]?.proxmoxHost ?? '')}
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
  /** Where the VMs are made: the lab's bpg/proxmox build and the lab's Proxmox API. */
  proxmox: ProxmoxInputs;
  talosconfig: string;
  machineConfigs: { controlplane: string; worker: string };
  /** Patch files per node (the global ones, then a GPU node's), from the repository's root. */
  patches: Record<string, string[]>;
  /** The installer image without its schematic and tag (<registry>/nocloud-installer). */
  installerBase: string;
  /** Each node's extra kernel arguments (machine.install.extraKernelArgs). */
  kernelArgs: Record<string, string[]>;
}

/** A provider binary in the workspace's implied local mirror: terraform.d/plugins/<host>/<ns>/<type>/<version>/<os_arch>. */
async function mirrorProvider(dir: string, source: string, version: string, binary: string): Promise<void> {
  const arch = ({ x64: 'amd64', arm64: 'arm64' } as Record<string, string>)[process.arch] ?? process.arch;
  const [namespace = '', type = ''] = source.split('/');
  const platform = join(dir, 'terraform.d', 'plugins', 'registry.terraform.io', namespace, type, version);
  await mkdir(join(platform, `${process.platform}_${arch}`), { recursive: true });
  await copyFile(
    binary,
    join(platform, `${process.platform}_${arch}`, `terraform-provider-${type}_v${version}`),
  );
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

export async function writeTerraformWorkspace(
  dir: string,
  state: LabState,
  vmTool: string,
  configApply?: ConfigApplyInputs,
): Promise<void> {
  const variables = variablesTf(state, state.nodes[0]?.talosVersion ?? '', state.kubernetesVersion);
  if (configApply) {
    await mkdir(dir, { recursive: true });
    await mirrorProvider(dir, 'siderolabs/talos', TALOS_PROVIDER_VERSION, configApply.provider);
    await mirrorProvider(dir, 'bpg/proxmox', PROXMOX_PROVIDER_VERSION, configApply.proxmox.provider);
    await writeFile(join(dir, 'main.tf'), CONFIG_APPLY_ROOT);
    await writeFile(join(dir, 'variables.tf'), variables + CONFIG_APPLY_VARIABLES);
    await writeFile(join(dir, 'nodes.auto.tfvars'), nodesTfvars(state, configApply));
    await writeFile(join(dir, 'terraform.tfvars'), proxmoxTfvars(state, configApply.proxmox));
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
  await writeFile(join(dir, 'variables.tf'), variables);
  await writeFile(join(dir, 'nodes.auto.tfvars'), nodesTfvars(state));
  await writeFile(join(dir, 'modules', 'node', 'main.tf'), NODE_MODULE);
  await writeFile(join(dir, 'modules', 'template', 'main.tf'), TEMPLATE_MODULE);
  // Lab only: the lab's own tool; the nodes are in nodes.auto.tfvars, as users keep them.
  await writeFile(join(dir, 'lab.json'), JSON.stringify({ vm_tool: vmTool }, null, 2));
}

/** The config-apply shape's terraform.tfvars: where Proxmox and the Image Factory are, the clone sources. */
function proxmoxTfvars(state: LabState, proxmox: ProxmoxInputs): string {
  const hcl = hclString;
  return `proxmox_endpoint = ${hcl(proxmox.endpoint)}
image_factory    = ${hcl(proxmox.imageFactory)}
image_host       = ${hcl(state.nodes[0]?.proxmoxHost ?? '')}
gateway          = ${hcl(state.nodes[0]?.ip.replace(/\.\d+$/, '.1') ?? '')}
${cloneSources(state)}`;
}
