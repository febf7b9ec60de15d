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
