import { randomUUID } from 'node:crypto';
import { presetKernelArgs, presetSchematic, type ClusterPreset } from '../cluster/presets.js';
import { installerKernelArgs } from '../daemon/schematics.js';

export type VmPower = 'running' | 'rebooting' | 'maintenance' | 'destroyed';

export interface LabNic {
  name: string;
  vlan: number | 'native';
}

export interface EtcdMember {
  id: string;
  /** false after `etcd leave` / `remove-member` until the node joins again. */
  member: boolean;
  /**
   * A member Talos added as a learner when the node joined: it holds a copy of the data but no vote
   * until machined promotes it (see `promoteLearner` in lab/daemon/vmLifecycle.ts).
   */
  learner?: boolean;
  /** Why this boot's etcd does not start: an older etcd than the cluster's storage version (lab/talos/etcdStorage.ts). */
  refused?: string;
}

export type BootLabel = 'A' | 'B';

/** What one boot slot holds: an installed Talos. */
export interface BootImage {
  version: string;
  schematic: string;
  kernelArgs: string[];
}

/** GRUB's two entries: the one the node booted, grub.cfg's default (the next boot) and META's Upgrade tag. */
export interface BootSlots {
  running: BootLabel;
  default: BootLabel;
  /** The label the last install flipped from: a failed boot reverts to it. */
  upgradeTag?: BootLabel;
  A?: BootImage;
  B?: BootImage;
}

/** The VM's power now: background tasks re-read it after each wait, since it may change under them. */
export function powerOf(node: LabNode): VmPower {
  return node.power;
}

/** One simulated Proxmox VM running Talos. */
export interface LabNode {
  name: string;
  role: 'controlplane' | 'worker';
  ip: string;
  proxmoxHost: string;
  terraformAddress?: string;
  expectedNics: LabNic[];
  /** The NICs the VM really has; a fault can make it differ from the preset. */
  nics: LabNic[];
  gpu?: string;
  schematic: string;
  talosVersion: string;
  kubernetesVersion: string;
  power: VmPower;
  /**
   * Another machine answers at this VM's address (fault foreign-certificate): its Talos API speaks
   * with a certificate of another CA, and wants client certificates that CA signed.
   */
  foreign?: boolean;
  /** Changes at every boot, as /proc/sys/kernel/random/boot_id does: `upgrade --wait` checks it. */
  bootId?: string;
  etcd?: EtcdMember;
  /** The extra kernel arguments of the running boot (an install's come from its schematic and config). */
  kernelArgs?: string[];
  /** Images pulled into the node's containerd, as `<driver>/<namespace>/<reference>` (Talos 1.13+). */
  images?: string[];
  /** Talos's A/B boot slots (lab/daemon/bootSlots.ts); absent until the first install. */
  slots?: BootSlots;
  /** How many times Terraform destroyed and created this VM. */
  destroyedCount: number;
  createdCount: number;
}

export interface LabTemplate {
  name: string;
  host: string;
  role: 'controlplane' | 'worker';
  talosVersion: string;
  builtCount: number;
}

export interface LabState {
  preset: string;
  cluster: string;
  presetFile: string;
  nodes: LabNode[];
  templates: LabTemplate[];
  kubernetesVersion: string;
  /** Released Talos versions the registry knows; an image for any other tag is missing. */
  releases: string[];
  schematics: string[];
  maxUnavailableWorkers: number;
  /**
   * etcd's storage version (X.Y.0) as its leader last raised it: it follows the lowest version every
   * member runs and never comes down by itself (lab/talos/etcdStorage.ts). Absent until the first raise.
   */
  etcdStorage?: string;
  /** An etcd downgrade in progress: its target, MAJOR.MINOR (`etcd downgrade enable`). */
  etcdDowngrade?: string;
  /**
   * The files the Proxmox hosts' datastores hold, by volume (datastoreVolume: `<host>/local:iso/<file>`
   * for a host's own `local` storage, the volume id alone for a shared one): the URL each was downloaded
   * from (bpg/proxmox's download_file). A VM whose disk imports one on its host boots what it holds.
   */
  datastore?: Record<string, string>;
}

export const INITIAL_TALOS = '1.11.3';
export const INITIAL_KUBERNETES = '1.34.1';
/** Kubernetes releases (kubernetes/kubernetes tags without their `v`): their component images exist. */
export const KUBERNETES_RELEASES = [
  '1.33.0',
  '1.33.5',
  '1.34.0',
  '1.34.1',
  '1.34.2',
  '1.34.4',
  '1.35.0',
  '1.35.1',
  '1.35.4',
  '1.36.0',
  '1.36.3',
  '1.36.6',
  '1.37.0',
  '1.37.2',
];
export const LAB_RELEASES = [
  '1.10.8',
  '1.10.9',
  '1.11.0',
  '1.11.3',
  '1.11.4',
  '1.11.5',
  '1.12.0',
  '1.12.1',
  '1.12.5',
  '1.12.9',
  '1.13.0',
  '1.13.4',
  '1.13.8',
  '1.14.0',
  '1.14.1',
  '2.0.0',
];

/** A deterministic 16-hex-digit etcd member id per node, like etcd's own ids. */
function memberId(name: string, generation: number): string {
  let hash = 0xcbf29ce484222325n;
  for (const char of `${name}#${generation}`) {
    hash ^= BigInt(char.charCodeAt(0));
    hash = (hash * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return hash.toString(16).padStart(16, '0');
}

export function newMemberId(node: LabNode): string {
  return memberId(node.name, node.createdCount + node.destroyedCount + (node.etcd?.member ? 0 : 1));
}

export function initialState(
  preset: string,
  presetFile: string,
  described: ClusterPreset,
  talosVersion = INITIAL_TALOS,
): LabState {
  const schematicFor = (node: ClusterPreset['nodes'][number]) => presetSchematic(described, node);
  return {
    preset,
    cluster: described.cluster.name,
    presetFile,
    kubernetesVersion: INITIAL_KUBERNETES,
    releases: LAB_RELEASES,
    schematics: [...new Set(described.nodes.map(schematicFor))],
    maxUnavailableWorkers: described.maxUnavailableWorkers,
    templates: (described.terraform?.templates ?? []).map((template) => ({
      ...template,
      talosVersion,
      builtCount: 0,
    })),
    nodes: described.nodes.map((node) => ({
      name: node.name,
      role: node.role,
      ip: node.ip,
      proxmoxHost: node.proxmoxHost,
      ...(node.terraformAddress ? { terraformAddress: node.terraformAddress } : {}),
      expectedNics: node.nics,
      nics: node.nics,
      ...(node.gpu ? { gpu: node.gpu.model } : {}),
      schematic: schematicFor(node),
      // Installed once by an installer: its schematic's arguments and its config's (which the lab
      // writes from the preset: lab/daemon/main.ts loadMachineConfigs).
      kernelArgs: installerKernelArgs(schematicFor(node), presetKernelArgs(described, node)),
      talosVersion,
      kubernetesVersion: INITIAL_KUBERNETES,
      power: 'running',
      bootId: randomUUID(),
      ...(node.role === 'controlplane' ? { etcd: { id: memberId(node.name, 0), member: true } } : {}),
      destroyedCount: 0,
      createdCount: 0,
    })),
  };
}

/**
 * Where a datastore file lives: Proxmox's `local` storage is each host's own disk (a VM on another
 * host cannot import its files); another storage id stands for a shared one (NFS, CephFS).
 */
export function datastoreVolume(host: string, id: string): string {
  return id.startsWith('local:') ? `${host}/${id}` : id;
}
