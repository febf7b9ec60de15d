import { shortSchematic } from './inventory/kernelArgs.js';
import type { BootImage, ImageDownload } from './terraformPlan.js';

/**
 * What an Image Factory URL names: `/image/<schematic>/<version>/<file>` (image-factory
 * internal/frontend/http/http.go, the /image route; its schematic is the sha256 of the schematic's
 * YAML). A file ending in `.iso` boots the installer; any other (`nocloud-amd64.raw.zst`, `.raw.xz`,
 * `.qcow2`) is a disk image with Talos already installed.
 */
export interface FactoryImage {
  schematic: string;
  /** As the URL writes it (`v1.12.0`). */
  version: string;
  file: string;
  kind: 'disk' | 'iso';
}

export function factoryImageOf(url: string): FactoryImage | undefined {
  let path: string;
  try {
    path = new URL(url).pathname;
  } catch {
    return undefined;
  }
  const found = /\/image\/([0-9a-f]{64})\/([^/]+)\/([^/]+)$/.exec(path);
  if (!found) return undefined;
  const [, schematic = '', version = '', file = ''] = found;
  return { schematic, version, file, kind: file.endsWith('.iso') ? 'iso' : 'disk' };
}

const bare = (version: string) => version.replace(/^v/, '');

/**
 * Why a node's create plan would boot a VM that is not the node at the target version, read from the
 * Image Factory URLs of the images it boots (never an undo's, which is the version the node leaves).
 * A plan may replace images other nodes boot (Terraform targets every instance of a resource the VM
 * depends on, so a controller's plan replaces the workers' download too): the node's is the download,
 * replaced or not, holding the file its VM's disk names today; when the plan does not tell, it boots
 * one of the replaced ones. Refused when none is of the schematic the node runs (the new VM would lack
 * that schematic's extensions and kernel arguments), none of those is of the target version, or those
 * are ISOs only (the VM would then install what its machine config names, which pre-flight does not
 * prove). A URL that is no Image Factory's tells nothing: the inventory's schematic is what is proven.
 */
export function rebuildImageProblem(input: {
  node: string;
  /** The schematic the node runs, as the inventory says (its own, else its role's). */
  schematic: string;
  version: string;
  /** The downloads the plan creates: what the new VM may boot when `booted` is not known. */
  downloads: readonly ImageDownload[];
  /** The downloads holding the files the node's VM boots today (bootImagesOf), when the plan tells. */
  booted?: readonly BootImage[];
}): string | undefined {
  const { node, schematic, version } = input;
  const candidates = input.booted ?? input.downloads.filter((d) => d.for === 'target');
  const images = candidates.flatMap((d) => {
    const image = d.url !== undefined ? factoryImageOf(d.url) : undefined;
    return image ? [{ address: d.address, ...image }] : [];
  });
  if (images.length === 0) return undefined;
  const creates = `${node}: its create at Talos ${version} would boot`;
  const untouched = 'nothing was touched';
  const listed = (list: typeof images, what: (i: (typeof images)[number]) => string) =>
    list.map((i) => `${i.address} (${what(i)})`).join(', ');
  const own = images.filter((image) => image.schematic === schematic);
  if (own.length === 0)
    return `${creates} one of ${listed(images, (i) => `schematic ${shortSchematic(i.schematic)}`)}, but ${node} runs schematic ${shortSchematic(schematic)} (the inventory's): the new VM would come back without what that schematic carries (its extensions, its kernel arguments) and be rolled back after its VM was destroyed; ${untouched}. Give ${node} the image of its own schematic in Terraform; or, if the new schematic is meant, name it in the inventory (images.schematics, or the node's own schematic) so that the run installs and checks it`;
  const atTarget = own.filter((image) => bare(image.version) === bare(version));
  if (atTarget.length === 0)
    return `${creates} ${listed(own, (i) => `Talos ${i.version}`)}, not an image of Talos ${version}: the new VM would come back at another version and be rolled back after its VM was destroyed; ${untouched}. Build the image's URL from the version variable the inventory names (versions.variables.talos)`;
  if (atTarget.every((image) => image.kind === 'iso'))
    return `${creates} ${listed(atTarget, (i) => i.file)}, an ISO: a VM booted from an ISO installs the installer its machine config names (machine.install.image) with the config's kernel arguments, and pre-flight proves only what a disk image boots; ${untouched}. Boot new VMs from the Image Factory's disk image (nocloud-amd64.raw.zst as a disk's file_id), or upgrade these nodes in place (--strategy pets)`;
  return undefined;
}
