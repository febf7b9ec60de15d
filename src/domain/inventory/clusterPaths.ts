import type { Inventory, InventoryNode } from './schema.js';

/** The schematic a node installs: its own (a GPU worker's extensions), else its role's. */
export function schematicOf(inventory: Inventory, node: Pick<InventoryNode, 'role' | 'schematic'>): string {
  const { schematics } = inventory.images;
  if (node.schematic) return node.schematic;
  return node.role === 'worker' ? (schematics.worker ?? schematics.controlplane) : schematics.controlplane;
}

/** The installer image of a node at a version, from the inventory's image form. */
export function installerImage(
  inventory: Inventory,
  node: Pick<InventoryNode, 'role' | 'schematic'>,
  version: string,
): string {
  const schematic = schematicOf(inventory, node);
  return inventory.images.installer
    .replaceAll('{schematic}', schematic)
    .replaceAll('{version}', version.replace(/^v/, ''));
}

/** Every installer image a version needs: one per schematic in use. */
export function installerImages(inventory: Inventory, version: string): string[] {
  return [...new Set(inventory.nodes.map((node) => installerImage(inventory, node, version)))];
}

export function findNode(inventory: Inventory, name: string): InventoryNode | undefined {
  return inventory.nodes.find((node) => node.name === name);
}
