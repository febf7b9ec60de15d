/** An installer image as a machine config names it, split into the inventory's form and its schematic. */
export interface InstallerImageParts {
  /** The image with `{schematic}` and `{version}` where the node's own were. */
  form: string;
  schematic: string;
  version: string;
}

// <registry>/<path>/<64-hex schematic>:v<version>, the Image Factory's form
// (factory.talos.dev/nocloud-installer/<id>:v1.11.3) and any mirror of it.
const FACTORY_IMAGE =
  /^(?<path>\S+\/)(?<schematic>[0-9a-f]{64})(?<tag>:v?)(?<version>\d+\.\d+\.\d+[\w.+-]*)$/;

/** The parts of an Image Factory installer reference; undefined for any other image. */
export function parseInstallerImage(image: string): InstallerImageParts | undefined {
  const groups = FACTORY_IMAGE.exec(image.trim())?.groups;
  if (!groups?.path || !groups.schematic || !groups.tag || !groups.version) return undefined;
  return {
    form: `${groups.path}{schematic}${groups.tag}{version}`,
    schematic: groups.schematic,
    version: groups.version,
  };
}
