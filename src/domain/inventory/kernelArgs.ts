import type { Inventory, InventoryNode } from './schema.js';

/** The kernel arguments a node must boot with: its role's, then its own, without repeats. */
export function expectedKernelArgs(inventory: Pick<Inventory, 'kernelArgs'>, node: InventoryNode): string[] {
  return [...new Set([...(inventory.kernelArgs?.[node.role] ?? []), ...(node.kernelArgs ?? [])])];
}

/** The expected arguments a kernel command line lacks (`key=value` must match exactly). */
export function missingKernelArgs(cmdline: string, expected: readonly string[]): string[] {
  const present = new Set(cmdline.split(/\s+/).filter(Boolean));
  return expected.filter((arg) => !present.has(arg));
}
