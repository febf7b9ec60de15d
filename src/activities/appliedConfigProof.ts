import {
  expectedKernelArgs,
  kernelArgVlans,
  undefinedVlans,
  type Inventory,
  type InventoryNode,
} from '../domain/index.js';
import type { ActivityDeps } from './deps.js';
import { tail } from './errors.js';
import { withPrivateFiles } from './machineConfigFile.js';
import { runCommand } from './runCommand.js';
import { unreadableDocuments, vlansIn } from './talosConfig.js';

/**
 * A config apply's machine config as it will reach the node's new VM: the plan's
 * machine_configuration_input with its config_patches merged in order, as the siderolabs provider
 * merges them (Talos's configpatcher, which `talosctl machineconfig patch` runs offline), then the
 * inventory's patches the product applies after the boot. It must be a config Talos accepts for a
 * metal install and define every VLAN the node's NICs carry (or its kernel arguments do): a new VM
 * comes up with nothing else. Undefined when it does; else what is wrong, for a
 * refusal before any VM is destroyed. The config holds the cluster's secrets: it is written only to a
 * private temporary folder, and no line of it leaves this function.
 */
export async function appliedConfigProblem(
  deps: ActivityDeps,
  inventory: Inventory,
  node: InventoryNode,
  address: string,
  config: { input: string; patches: string[] },
  /** The inventory's patches the product applies after the boot (global, the node's GPU ones): files. */
  inventoryPatches: string[],
  /** The oldest Talos the new VM (or its undo's) boots, which must read every document of the config. */
  version: string,
): Promise<string | undefined> {
  const files: Record<string, string> = { 'input.yaml': config.input };
  config.patches.forEach((patch, i) => (files[`patch-${i}.yaml`] = patch));
  return withPrivateFiles(files, async (paths) => {
    const patchArgs = [
      ...config.patches.map((_p, i) => `@${paths[`patch-${i}.yaml`]}`),
      ...inventoryPatches.map((file) => `@${file}`),
    ].flatMap((patch) => ['--patch', patch]);
    const merged = patchArgs.length
      ? await runCommand(deps.talosctl, ['machineconfig', 'patch', paths['input.yaml'] ?? '', ...patchArgs], {
          timeoutMs: 30_000,
          // Its output is the merged config, secrets and all: never a line of it in a heartbeat.
          progress: () => ({ step: `merging the machine config ${address} would send` }),
        })
      : { exitCode: 0, stdout: config.input, stderr: '' };
    if (merged.exitCode !== 0)
      return `${node.name}: the config_patches of ${address} do not apply to its machine_configuration_input (talosctl machineconfig patch: ${tail(merged.stderr, 2)}); the provider would fail after the VM was destroyed. Nothing was touched`;
    return withPrivateFiles({ 'merged.yaml': merged.stdout }, async (out) => {
      const validated = await runCommand(
        deps.talosctl,
        ['validate', '--mode', 'metal', '--config', out['merged.yaml'] ?? ''],
        { timeoutMs: 30_000 },
      );
      if (validated.exitCode !== 0)
        return `${node.name}: the machine config ${address} would send is not one Talos accepts for a metal install (talosctl validate --mode metal: ${tail(validated.stderr || validated.stdout, 2)}). Nothing was touched`;
      const unreadable = unreadableDocuments(
        `${node.name}: the machine config ${address} would send`,
        merged.stdout,
        version,
      );
      if (unreadable) return `${unreadable}. Nothing was touched`;
      const missing = undefinedVlans(node.nics, [
        ...vlansIn(merged.stdout),
        ...kernelArgVlans(expectedKernelArgs(inventory, node)),
      ]);
      if (missing.length === 0) return undefined;
      const vlans = missing.map((n) => `VLAN ${n.vlan} on ${n.name}`).join(' and ');
      return `${node.name}: the machine config ${address} would send defines no ${vlans}, and Talos creates a VLAN link only from its configuration (or a vlan= kernel argument): the new VM would come up without it, fail its NIC check and be rolled back after its VM was destroyed. Define it in that resource's machine_configuration_input or config_patches (machine.network.interfaces[].vlans, or a VLANConfig document on Talos 1.12 and later). Nothing was touched`;
    });
  });
}
