import { schematicDocument } from './schematics.js';
import type { LabCluster } from './labCluster.js';

export interface ImageRef {
  repository: string;
  schematic: string;
  version: string;
}

/** Parses `<registry>/<installer>/<schematic>:v<version>` as the image factory names installers. */
export function parseInstallerImage(image: string): ImageRef | undefined {
  const match = /^(?:[^/]+\/)?([\w.-]*installer)\/([0-9a-f]{64}):v?(\d+\.\d+\.\d+)$/.exec(image);
  if (!match) return undefined;
  return { repository: match[1] ?? '', schematic: match[2] ?? '', version: match[3] ?? '' };
}

/**
 * What the lab registry serves: released versions of the schematics the cluster runs or the factory
 * knows (it builds any schematic's images on demand), unless a fault removed them.
 */
export function imageExists(lab: LabCluster, ref: ImageRef): boolean {
  const known =
    lab.state.schematics.includes(ref.schematic) || schematicDocument(ref.schematic) !== undefined;
  if (!lab.state.releases.includes(ref.version) || !known) return false;
  return !lab.faults.some(
    (fault) => fault.kind === 'image-missing' && (!fault.version || fault.version === ref.version),
  );
}
