import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments, stringify } from 'yaml';
import type { LabNode } from '../state/labState.js';
import type { LabCluster } from './labCluster.js';

/** A schematic as the Image Factory stores it (image-factory pkg/schematic/schematic.go). */
interface Schematic {
  customization?: {
    extraKernelArgs?: string[];
    systemExtensions?: { officialExtensions?: string[] };
  };
}

let table: Record<string, Schematic> | undefined;

/** lab/presets/schematics.yaml: what the lab's Image Factory knows of each schematic id. */
function schematics(): Record<string, Schematic> {
  table ??= parse(
    readFileSync(fileURLToPath(new URL('../presets/schematics.yaml', import.meta.url)), 'utf8'),
  ) as Record<string, Schematic>;
  return table;
}

/** `GET /schematics/<id>` as the factory answers it: the schematic's YAML, or nothing for an unknown id. */
export function schematicDocument(id: string): string | undefined {
  const schematic = schematics()[id];
  return schematic ? stringify(schematic) : undefined;
}

/**
 * The kernel arguments a disk image or an installer of the schematic carries: the factory adds the
 * schematic's extraKernelArgs to both (image-factory internal/profile/profile.go, the OutKindInstaller
 * and OutKindImage cases). An unknown schematic carries none.
 */
export function schematicKernelArgs(id: string): string[] {
  return schematics()[id]?.customization?.extraKernelArgs ?? [];
}

/** The node's machine config's machine.install.extraKernelArgs: what an installer adds to the schematic's. */
export function configKernelArgs(lab: LabCluster, node: LabNode): string[] {
  const text = lab.machineConfigs.get(node.name);
  if (!text) return [];
  for (const doc of parseAllDocuments(text)) {
    const config = doc.toJS() as { machine?: { install?: { extraKernelArgs?: unknown } } } | null;
    const args = config?.machine?.install?.extraKernelArgs;
    if (Array.isArray(args)) return args.map(String);
  }
  return [];
}

/**
 * What an installer writes: the schematic's arguments (the installer carries them), then the config's
 * machine.install.extraKernelArgs, each once.
 */
export function installerKernelArgs(schematic: string, configArgs: readonly string[]): string[] {
  return [...new Set([...schematicKernelArgs(schematic), ...configArgs])];
}

/**
 * What an install boots with: installerKernelArgs of the node's running config (Talos 1.13's
 * lifecycle install leaves the config's out on some GRUB nodes, the fault kernel-args-dropped).
 */
export function installedKernelArgs(
  lab: LabCluster,
  node: LabNode,
  schematic: string,
  { withConfig }: { withConfig: boolean },
): string[] {
  return installerKernelArgs(schematic, withConfig ? configKernelArgs(lab, node) : []);
}

/**
 * What an Image Factory disk image's URL names (`/image/<schematic>/v<version>/<file>`, the route the
 * lab registry serves): a VM whose disk is imported from it boots that schematic at that version.
 */
export function factoryDiskImage(url: string): { schematic: string; version: string } | undefined {
  let path: string;
  try {
    path = new URL(url, 'http://lab').pathname;
  } catch {
    return undefined;
  }
  const found = /^\/image\/([0-9a-f]{64})\/v(\d+\.\d+\.\d+)\/[\w.-]+$/.exec(path);
  return found ? { schematic: found[1] ?? '', version: found[2] ?? '' } : undefined;
}
