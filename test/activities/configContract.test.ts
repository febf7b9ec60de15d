import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { configContractUses } from '../../src/activities/configContract.js';
import type { ClusterAccess } from '../../src/activities/index.js';
import { describeContractUses, parseInventory } from '../../src/domain/index.js';

/**
 * The Terraform layouts users write with the siderolabs/talos provider, read as files (no provider runs):
 * which `talos_machine_configuration` contracts the inventory's version variable reaches.
 */
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'talos-upgrade-contract-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function root(
  name: string,
  files: Record<string, string>,
  variable = 'talos_version',
): Promise<ClusterAccess> {
  const base = join(dir, name);
  for (const [path, text] of Object.entries(files)) {
    await mkdir(join(base, 'terraform', path, '..'), { recursive: true });
    await writeFile(join(base, 'terraform', path), text);
  }
  const parsed = parseInventory(await readFile('examples/atlas.yaml', 'utf8'));
  if (!parsed.ok) throw new Error('examples/atlas.yaml is valid');
  const { inventory: example } = parsed;
  const inventory = {
    ...example,
    terraform: { ...(example.terraform as NonNullable<typeof example.terraform>), directory: 'terraform' },
    versions: { ...example.versions, variables: { ...example.versions.variables, talos: variable } },
  };
  return { inventory, baseDir: base, kubeconfig: '', talosconfig: '' };
}

const secrets = 'resource "talos_machine_secrets" "this" {\n  talos_version = "v1.11.0"\n}\n';

describe('configContractUses', () => {
  it('finds a contract fed by the variable in the root, directly or through a local', async () => {
    const access = await root('direct', {
      'main.tf': `${secrets}
locals {
  talos    = "v\${var.talos_version}"
  versions = { talos = var.talos_version, kubernetes = var.kubernetes_version }
}
data "talos_machine_configuration" "controlplane" {
  cluster_name  = "homelab"
  machine_type  = "controlplane"
  talos_version = "v\${var.talos_version}"
}
data "talos_machine_configuration" "worker" {
  cluster_name  = "homelab"
  machine_type  = "worker"
  talos_version = local.talos
}
data "talos_machine_configuration" "kubernetes_only" {
  talos_version = local.versions.kubernetes
}
data "talos_machine_configuration" "from_object" {
  talos_version = "v\${local.versions.talos}"
}
`,
    });
    const uses = await configContractUses(access);
    // An object local's other attribute is not the Talos version.
    expect(uses.map((u) => u.address)).toEqual([
      'data.talos_machine_configuration.controlplane',
      'data.talos_machine_configuration.from_object',
      'data.talos_machine_configuration.worker',
    ]);
    expect(describeContractUses(uses, 'talos_version')).toMatch(
      /feeds talos_version into the config contract of data\.talos_machine_configuration\.controlplane \(main\.tf: talos_version = v\$\{var\.talos_version\}\)/,
    );
  });

  it('follows a local module, and an object passed whole (var.cluster.talos_version)', async () => {
    const access = await root(
      'modules',
      {
        'main.tf': `locals {
  versions = { talos = var.cluster.talos_version, kubernetes = "1.34.1" }
}
module "talos" {
  source  = "./modules/talos"
  cluster = var.cluster
}
module "from_local" {
  source   = "./modules/from_local"
  versions = local.versions
  name     = var.cluster.name
}
module "pinned" {
  source  = "./modules/pinned"
  contract = "v1.11.0"
}
`,
        'modules/talos/main.tf': `variable "cluster" {}
data "talos_machine_configuration" "this" {
  cluster_name  = var.cluster.name
  machine_type  = "controlplane"
  talos_version = var.cluster["talos_version"]
}
`,
        'modules/from_local/main.tf': `variable "versions" {}
variable "name" {}
data "talos_machine_configuration" "this" {
  talos_version = var.versions.talos
}
data "talos_machine_configuration" "named" {
  talos_version = var.name
}
`,
        'modules/pinned/main.tf': `variable "contract" {}
data "talos_machine_configuration" "this" {
  talos_version = var.contract
}
`,
      },
      'cluster.talos_version',
    );
    expect((await configContractUses(access)).map((u) => u.address).sort()).toEqual([
      'module.from_local.data.talos_machine_configuration.this',
      'module.talos.data.talos_machine_configuration.this',
    ]);
  });

  it('finds nothing when the contract is the version the cluster was created with', async () => {
    const access = await root('pinned', {
      'main.tf': `${secrets}
data "talos_machine_configuration" "controlplane" {
  cluster_name  = "homelab"
  machine_type  = "controlplane"
  talos_version = "v1.11.0"
}
resource "proxmox_virtual_environment_download_file" "image" {
  url = "https://factory/image/x/v\${var.talos_version}/nocloud-amd64.raw.zst"
}
`,
    });
    expect(await configContractUses(access)).toEqual([]);
  });
});
