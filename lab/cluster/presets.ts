import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { inventoryFields, type Inventory } from '../../src/domain/index.js';

/**
 * The clusters the lab builds, each described by a file of its own in lab/presets/. The product
 * never reads them: it finds its way in the built cluster with `talos-upgrade init`.
 */
export const PRESETS = ['prox-ops', 'atlas', 'portkey'] as const;
export type Preset = (typeof PRESETS)[number];

export function presetFile(preset: Preset): string {
  return fileURLToPath(new URL(`../presets/${preset}.yaml`, import.meta.url));
}

export function isPreset(name: string): name is Preset {
  return (PRESETS as readonly string[]).includes(name);
}

/**
 * A field the lab needs to build its cluster (the Proxmox host of a VM, the endpoints its configs
 * name) that the product's inventory leaves out: every preset gives it.
 */
export function presetField<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`the lab's preset has no ${what}: every preset names it`);
  return value;
}

/**
 * A preset read with the inventory's field schema but without the product's cross-checks: a preset
 * describes a cluster, not what a run needs (no machine configs, no policy), so `validate` would
 * rightly refuse it as an inventory.
 */
export function parsePreset(text: string, origin: string): Inventory {
  const parsed = inventoryFields.safeParse(parse(text));
  if (!parsed.success)
    throw new Error(
      `${origin} is not a valid preset: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  return parsed.data;
}
