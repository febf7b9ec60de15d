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
 * The system extensions an image of the schematic loads, as Talos lists them (ExtensionStatus, `talosctl
 * get extensions`): each official extension under its manifest's name, which drops the `siderolabs/`
 * of the schematic's list, then the factory's virtual extension `schematic` whose version is the
 * schematic id (image-factory, constants.SchematicIDExtensionName: every image it builds carries it,
 * and Omni reads a machine's schematic from it), and last, when an extension carries kernel modules,
 * the `modules.dep` Talos's imager builds of them all, versioned by the kernel (talos
 * pkg/imager/extensions, v1.13.8). Versions are the lab's: the image's Talos version.
 */
export function imageExtensions(id: string, talosVersion: string): Array<{ name: string; version: string }> {
  const official = schematics()[id]?.customization?.systemExtensions?.officialExtensions ?? [];
  const modules = official.some((name) => KERNEL_MODULES.test(name));
  return [
    ...official.map((name) => ({ name: name.replace(/^siderolabs\//, ''), version: `v${talosVersion}` })),
    { name: 'schematic', version: id },
    ...(modules ? [{ name: 'modules.dep', version: LAB_KERNEL }] : []),
  ];
}

/** The extensions of the lab's schematics that carry kernel modules (NVIDIA's, Intel's GPU driver). */
const KERNEL_MODULES = /\/(nonfree-kmod-|nvidia-open-gpu-kernel-modules|i915$)/;

/** The kernel of the lab's images, as its Nodes report it (lab/cluster/nodeObjects.ts). */
const LAB_KERNEL = '6.12.57-talos';

/**
 * Whether the node's image loads NVIDIA's kernel modules (the nonfree-kmod-nvidia or the open
 * nvidia-open-gpu-kernel-modules extension, Talos's "NVIDIA GPU" guide): without them the device plugin
 * finds no GPU and the node advertises no nvidia.com/gpu, whatever the hardware.
 */
export function loadsNvidiaDriver(schematic: string): boolean {
  return (schematics()[schematic]?.customization?.systemExtensions?.officialExtensions ?? []).some((name) =>
    /\/(nonfree-kmod-nvidia|nvidia-open-gpu-kernel-modules)/.test(name),
  );
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
