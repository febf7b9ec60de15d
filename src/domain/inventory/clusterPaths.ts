import type { Inventory, InventoryNode } from './schema.js';

/** The installer image of a role at a version, from the inventory's image form. */
export function installerImage(inventory: Inventory, role: InventoryNode['role'], version: string): string {
  const schematic =
    role === 'worker'
      ? (inventory.images.schematics.worker ?? inventory.images.schematics.controlplane)
      : inventory.images.schematics.controlplane;
  return inventory.images.installer
    .replaceAll('{schematic}', schematic)
    .replaceAll('{version}', version.replace(/^v/, ''));
}

/** Every installer image a version needs: one per schematic in use. */
export function installerImages(inventory: Inventory, version: string): string[] {
  const roles = new Set(inventory.nodes.map((node) => node.role));
  return [...new Set([...roles].map((role) => installerImage(inventory, role, version)))];
}

export function findNode(inventory: Inventory, name: string): InventoryNode | undefined {
  return inventory.nodes.find((node) => node.name === name);
}
