import type { Inventory, InventoryNode } from './schema.js';

/** A node's Terraform addresses: `terraformAddresses`, or its one `terraformAddress`. */
export function nodeAddresses(node: InventoryNode): string[] {
  return node.terraformAddresses ?? (node.terraformAddress ? [node.terraformAddress] : []);
}

/**
 * The machine config file a recreated VM of this node is configured with: its own, else its role's. A
 * worker never falls back to the control plane's config, which would make it a control plane.
 */
export function machineConfigOf(inventory: Inventory, node: InventoryNode): string | undefined {
  return node.machineConfig ?? inventory.machineConfigs?.[node.role];
}

/** Whether the policy recreates VMs for some kind of release (cattle). */
export function recreatesVms(inventory: Inventory): boolean {
  return Object.values(inventory.policy.strategy).includes('cattle');
}

/** What `machineConfigs.<role>` or a node's `machineConfig` says when Terraform's apply configures the VM. */
export const CONFIGURED_BY_TERRAFORM = 'terraform';

/**
 * Whether a recreated VM of this node is configured by the targeted Terraform apply that creates it (a
 * talos_machine_configuration_apply under its addresses) rather than by a file the product sends.
 */
export function configuredByTerraform(inventory: Inventory, node: InventoryNode): boolean {
  return machineConfigOf(inventory, node) === CONFIGURED_BY_TERRAFORM;
}
