import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LabState } from '../state/labState.js';

/**
 * The lab's Terraform workspace: one `terraform_data` per VM and per template, addressed like a
 * real Proxmox repository (`module.nodes["k8s-work-5"]`, `module.templates["baldar-worker"]`).
 * Their local-exec provisioners ask the lab to create and destroy the simulated VMs, so the real
 * terraform CLI does the planning, the state, the locking and the `-json` output.
 */
const NODE_MODULE = `variable "name" { type = string }
variable "talos_version" { type = string }
variable "vm_tool" { type = string }
variable "adopt" { type = bool }

resource "terraform_data" "vm" {
  # A new Talos version means a new VM: the cattle strategy.
  triggers_replace = var.talos_version
  input            = { name = var.name, tool = var.vm_tool, talos_version = var.talos_version }

  provisioner "local-exec" {
    command = var.adopt ? "echo adopting running VM \${var.name}" : "\${var.vm_tool} create \${var.name} \${var.talos_version}"
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

const ROOT = `terraform {
  required_version = ">= 1.5.0"
}

locals {
  lab = jsondecode(file("\${path.module}/lab.json"))
}

module "nodes" {
  source        = "./modules/node"
  for_each      = toset(local.lab.nodes)
  name          = each.key
  talos_version = var.talos_version
  vm_tool       = local.lab.vm_tool
  adopt         = var.adopt
}

module "templates" {
  source        = "./modules/template"
  for_each      = toset(local.lab.templates)
  name          = each.key
  talos_version = var.talos_version
  vm_tool       = local.lab.vm_tool
  adopt         = var.adopt
}
`;

export function variablesTf(state: LabState, talosVersion: string, kubernetesVersion: string): string {
  const [controller, worker] = [
    state.nodes.find((n) => n.role === 'controlplane')?.schematic,
    state.nodes.find((n) => n.role === 'worker')?.schematic,
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

# Lab only: record VMs that are already running instead of creating them.
variable "adopt" {
  type    = bool
  default = false
}
`;
}

export async function writeTerraformWorkspace(dir: string, state: LabState, vmTool: string): Promise<void> {
  await mkdir(join(dir, 'modules', 'node'), { recursive: true });
  await mkdir(join(dir, 'modules', 'template'), { recursive: true });
  await writeFile(join(dir, 'main.tf'), ROOT);
  await writeFile(
    join(dir, 'variables.tf'),
    variablesTf(state, state.nodes[0]?.talosVersion ?? '', state.kubernetesVersion),
  );
  await writeFile(join(dir, 'modules', 'node', 'main.tf'), NODE_MODULE);
  await writeFile(join(dir, 'modules', 'template', 'main.tf'), TEMPLATE_MODULE);
  await writeFile(
    join(dir, 'lab.json'),
    JSON.stringify(
      {
        vm_tool: vmTool,
        nodes: state.nodes.filter((n) => n.terraformAddress).map((n) => n.name),
        templates: state.templates.map((t) => t.name),
      },
      null,
      2,
    ),
  );
}
