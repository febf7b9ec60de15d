import { fileURLToPath } from 'node:url';

/** The lab's presets are the project's example inventories: the lab is the cluster they describe. */
export const PRESETS = ['prox-ops', 'atlas', 'portkey'] as const;
export type Preset = (typeof PRESETS)[number];

export function presetInventoryFile(preset: Preset): string {
  return fileURLToPath(new URL(`../../examples/${preset}.yaml`, import.meta.url));
}

export function isPreset(name: string): name is Preset {
  return (PRESETS as readonly string[]).includes(name);
}

/**
 * A field the lab needs to build its cluster (the Proxmox host of a VM, the endpoints its configs
 * name) that the product's inventory may leave out: every preset gives it.
 */
export function presetField<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`the lab's preset has no ${what}: every preset names it`);
  return value;
}
