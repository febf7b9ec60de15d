import type { InstallerImageParts } from './installerImage.js';

/** A node as Kubernetes and its own Talos API describe it. */
export interface DiscoveredNode {
  name: string;
  role: 'controlplane' | 'worker';
  ip: string;
  kubeletVersion: string;
  talosVersion: string;
  /** machine.install.image of the running config, split when it is an Image Factory reference. */
  installer?: InstallerImageParts;
  installImage?: string;
  /**
   * The schematic the node runs: the version of its image's `schematic` extension, which the Image
   * Factory puts in every image it builds. machine.install.image may name another (`talosctl upgrade
   * --image` leaves the config as it was); absent on an image the factory did not build.
   */
  runningSchematic?: string;
  /** The system extensions the node's image loads, by manifest name (`talosctl get extensions`). */
  extensions?: string[];
  /** machine.install.extraKernelArgs that the node booted with and that carry no credentials. */
  extraKernelArgs: string[];
  /** Of machine.install.extraKernelArgs, those left out: not on the booted command line (a UKI boot), or a credential. */
  leftOutKernelArgs: { notBooted: string[]; secret: number };
  nics: Array<{ name: string; vlan: 'native' | number }>;
  /** VLAN ids beyond the first on one NIC: the inventory holds one per NIC. */
  extraVlans: string[];
  gpus: number;
  /** The nvidia.com/gpu.product label: the GPU model as GPU Feature Discovery names it. */
  gpuProduct?: string;
  /** The repository's patch files (as the inventory names them) whose every value its config holds. */
  patches: string[];
}

export interface DiscoveredCluster {
  nodes: DiscoveredNode[];
  namespaces: ReadonlySet<string>;
}
