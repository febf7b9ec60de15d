import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parseDocument } from 'yaml';
import type { Inventory } from '../../src/domain/index.js';
import type { TerraformShape } from './terraformWorkspace.js';

/** A GPU patch as the documents require it: /var paths only, and no-cgroups for the eBPF issue. */
export function gpuPatch(withEtcPath = false): string {
  const runtimeDir = withEtcPath ? '/etc/nvidia-container-runtime' : '/var/etc/nvidia-container-runtime';
  return `machine:
  files:
    - path: /var/cri/conf.d/20-customization.part
      op: create
      content: |
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.nvidia]
          runtime_type = "io.containerd.runc.v2"
    - path: ${runtimeDir}/config.toml
      op: create
      content: |
        [nvidia-container-cli]
        no-cgroups = true
`;
}

const GLOBAL_PATCH = `machine:
  sysctls:
    vm.nr_hugepages: "0"
  time:
    servers: [time.cloudflare.com]
`;

/** An installer form at the lab registry: the lab serves every image a real registry would. */
export function mirroredInstaller(form: string, registryHost: string): string {
  return form.replace(/^[^/]+\//, `${registryHost}/`);
}

/**
 * The lab's copy of the user's Git repository: the inventory at its root (relative paths in it
 * resolve from there), terraform/ and talos/patches/. Only what differs from the example is changed:
 * installers come from the lab registry; backups and machine configs live in the lab directory.
 */
export async function writeLabRepository(
  repoDir: string,
  example: { origin: string; text: string },
  inventory: Inventory,
  registryHost: string,
  labDir: string,
  machineConfigs: { controlplane: string; worker: string },
  shape: TerraformShape = 'module-per-node',
): Promise<string> {
  const backupsDir = join(labDir, 'backups');
  // Machine configs carry the cluster's secrets, so like a real setup they live outside the
  // repository: in the lab directory, where the lab generated them with Talos's own generator.
  const roles = new Set(inventory.nodes.map((node) => node.role));
  const configs = Object.fromEntries([...roles].map((role) => [role, machineConfigs[role]]));
  const doc = parseDocument(example.text);
  const installer = mirroredInstaller(inventory.images.installer, registryHost);
  doc.setIn(['images', 'installer'], installer);
  doc.setIn(['backups', 'directory'], backupsDir);
  if (shape === 'config-apply') {
    // Terraform configures each new VM (talos_machine_configuration_apply per node, beside its VM).
    doc.setIn(['machineConfigs'], doc.createNode({ controlplane: 'terraform', worker: 'terraform' }));
    inventory.nodes.forEach((node, i) => {
      if (!node.terraformAddress) return;
      doc.deleteIn(['nodes', i, 'terraformAddress']);
      doc.setIn(
        ['nodes', i, 'terraformAddresses'],
        doc.createNode([
          `terraform_data.vm["${node.name}"]`,
          `talos_machine_configuration_apply.node["${node.name}"]`,
        ]),
      );
    });
  } else doc.setIn(['machineConfigs'], doc.createNode(configs));
  if (doc.getIn(['terraform', 'directory']) !== undefined) doc.setIn(['terraform', 'directory'], 'terraform');
  const inventoryFile = join(repoDir, 'inventory.yaml');
  await mkdir(repoDir, { recursive: true });
  await writeFile(inventoryFile, `# Written by talos-lab from ${example.origin}\n${doc.toString()}`);

  const patches = [
    ...inventory.policy.globalPatches.map((file) => ({ file, text: GLOBAL_PATCH })),
    ...inventory.nodes.flatMap((node) => node.gpu?.patches.map((file) => ({ file, text: gpuPatch() })) ?? []),
  ];
  for (const { file, text } of patches) {
    const path = join(repoDir, file);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, text);
  }
  return inventoryFile;
}
