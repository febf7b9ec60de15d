/** One ExtensionStatus as `talosctl get extensions -o json` prints it (runtime.ExtensionStatus). */
export interface ExtensionStatus {
  spec?: { image?: string; metadata?: { name?: string; version?: string } };
}

/**
 * The Image Factory's virtual extension: every image it builds carries one named `schematic` whose
 * version is the schematic id (image-factory constants.SchematicIDExtensionName). It is how a machine
 * says which schematic it runs, whatever its config's machine.install.image names.
 */
export const SCHEMATIC_EXTENSION = 'schematic';

/**
 * What Talos's imager adds to an image whose extensions carry kernel modules: one `modules.dep` of them
 * all, versioned by the kernel (talos pkg/imager/extensions, v1.13.8). No schematic lists it.
 */
const MODULES_DEP = 'modules.dep';

/** What a node's image loads: its schematic (when the factory built it) and its real extensions. */
export function imageExtensions(statuses: ExtensionStatus[]): {
  runningSchematic?: string;
  extensions: string[];
} {
  const named = statuses.map((s) => s.spec?.metadata ?? {}).filter((m) => m.name);
  const schematic = named.find((m) => m.name === SCHEMATIC_EXTENSION)?.version;
  return {
    ...(schematic ? { runningSchematic: schematic } : {}),
    extensions: named
      .filter((m) => m.name !== SCHEMATIC_EXTENSION && m.name !== MODULES_DEP)
      .map((m) => m.name ?? ''),
  };
}

/**
 * An extension as Talos names a loaded one: its manifest's name, which for the official extensions is
 * the schematic's entry without `siderolabs/` (a schematic lists `siderolabs/qemu-guest-agent`, the
 * node loads `qemu-guest-agent`).
 */
export const extensionName = (entry: string): string => entry.replace(/^siderolabs\//, '');

/** The extensions a node loads that an image of the schematic would not: lost by installing it. */
export function lostExtensions(loaded: readonly string[], schematicExtensions: readonly string[]): string[] {
  const kept = new Set(schematicExtensions.map(extensionName));
  return loaded.filter((name) => !kept.has(extensionName(name)));
}

/** A node whose installer would leave out extensions it loads today. */
export interface ExtensionLoss {
  node: string;
  /** The schematic it runs, when its image says. */
  runs?: string;
  /** The schematic the run would install. */
  installs: string;
  lost: string[];
}

export function describeExtensionLosses(losses: readonly ExtensionLoss[]): string {
  const each = losses.map(
    (l) =>
      `${l.node} loads ${l.lost.join(', ')} (${l.runs ? `it runs schematic ${l.runs}` : 'its image is no Image Factory build: the factory installs only what a schematic lists'}), which schematic ${l.installs} has not`,
  );
  return (
    `the run would install images without extensions the nodes load today: ${each.join('; ')}. ` +
    'Give each such node its own schematic in the inventory (nodes[].schematic: the one it runs; talos-upgrade init writes it from `talosctl get extensions`). ' +
    'To drop an extension on purpose, move the node to the new schematic at its current version first (talosctl upgrade --image <installer of the new schematic>:v<its version>); nothing was touched'
  );
}
