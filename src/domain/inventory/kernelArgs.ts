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

/** A schematic id as messages show it: its first 12 characters, as the Image Factory's pages do. */
export const shortSchematic = (id: string): string => `${id.slice(0, 12)}…`;

/** A node that a VM rebuilt from its schematic's disk image would boot without some of its arguments. */
export interface RebuildKernelArgGap {
  node: string;
  schematic: string;
  missing: string[];
}

/**
 * What every Talos image boots with before any schematic or config adds to it: Talos's defaults
 * (pkg/machinery/kernel/kernel.go DefaultArgs at v1.13.8, some only on some versions) and the
 * platform's console and platform arguments. A config that repeats one is not asking for anything new.
 */
const TALOS_DEFAULT_ARGS = new Set([
  'init_on_alloc=1',
  'slab_nomerge',
  'slab_nomerge=',
  'pti=on',
  'consoleblank=0',
  'nvme_core.io_timeout=4294967295',
  'printk.devkmsg=on',
  'ima_template=ima-ng',
  'ima_appraise=fix',
  'ima_hash=sha512',
  'selinux=1',
  'module.sig_enforce=1',
  'proc_mem.force_override=never',
  'lockdown=confidentiality',
]);

function bootsAnyway(arg: string): boolean {
  return TALOS_DEFAULT_ARGS.has(arg) || /^(console|talos\.platform)=/.test(arg);
}

/**
 * What a rebuilt VM boots: its disk image's command line, which holds the schematic's extraKernelArgs
 * and never the machine config's install.extraKernelArgs (an image-booted VM skips the installer; the
 * config's arguments reach the boot only with a later install). Given each schematic's arguments, the
 * nodes whose rebuild would come back without an argument the inventory checks after it.
 */
export function rebuildKernelArgGaps(
  inventory: Pick<Inventory, 'kernelArgs'>,
  nodes: ReadonlyArray<{ node: InventoryNode; schematic: string }>,
  schematicArgs: ReadonlyMap<string, readonly string[]>,
): RebuildKernelArgGap[] {
  return nodes.flatMap(({ node, schematic }) => {
    const missing = missingKernelArgs(
      (schematicArgs.get(schematic) ?? []).join(' '),
      expectedKernelArgs(inventory, node),
    ).filter((arg) => !bootsAnyway(arg));
    return missing.length ? [{ node: node.name, schematic, missing }] : [];
  });
}

/** The refusal of a rebuild whose VMs would boot without arguments the run checks: what, why, the fix. */
export function describeRebuildKernelArgGaps(gaps: readonly RebuildKernelArgGap[]): string {
  const each = gaps.map(
    (g) =>
      `${g.node} would boot without ${g.missing.join(' ')} (schematic ${shortSchematic(g.schematic)} has no such extraKernelArgs)`,
  );
  return (
    `a VM rebuilt from its Image Factory disk image boots the schematic's kernel arguments, not the machine config's install.extraKernelArgs (those come only with a later install), and the run checks every node's arguments after its rebuild: ${each.join('; ')}. ` +
    'Add the arguments to the schematic (customization.extraKernelArgs: the disk image, the ISO and every installer carry them, so this holds for VMs that boot the ISO and install too), and give the inventory the new schematic id; ' +
    "or upgrade these nodes in place (--strategy pets); or drop the arguments from the inventory's kernelArgs if the nodes do not need them. No VM is destroyed until then"
  );
}

/** Of the arguments a schematic carries, the ones the run checks: all a report or history needs to show. */
export function checkedKernelArgs(
  inventory: Pick<Inventory, 'kernelArgs'>,
  nodes: readonly InventoryNode[],
  carried: readonly string[],
): string[] {
  const checked = new Set(nodes.flatMap((node) => expectedKernelArgs(inventory, node)));
  return carried.filter((arg) => checked.has(arg));
}
