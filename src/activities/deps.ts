import { dirname, isAbsolute, resolve } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { findNode, type Inventory, type InventoryNode } from '../domain/index.js';
import { nonRetryable } from './errors.js';
import { KeepAliveKubeConfig } from './keepAliveKubeConfig.js';
import type { GitHubReleases } from './githubReleases.js';
import type { FileSource } from './repositorySource.js';

/** One cluster the worker may upgrade: its inventory and where its credentials live. */
export interface ClusterAccess {
  inventory: Inventory;
  /** Relative paths in the inventory (patches, terraform directory) resolve from here. */
  baseDir: string;
  kubeconfig: string;
  talosconfig: string;
}

/**
 * Everything the activities need from outside, handed in by the worker (or a test): binary paths,
 * per-cluster files, and how to read a secret. Nothing is read from global state at import time.
 */
export interface ActivityDeps {
  clusters: Record<string, ClusterAccess>;
  talosctl: string;
  terraform: string;
  /** sops, which decrypts SOPS-encrypted machine configs (default: `sops` on PATH). */
  sops?: string;
  /** A list of released Talos versions, one per line, read instead of GitHub's releases when set. */
  releasesUrl?: string;
  /** siderolabs/talos's releases on GitHub (its answers kept with their ETags for the worker's life). */
  talosReleases?: GitHubReleases;
  /** kubernetes/kubernetes's releases on GitHub (the same API and token as Talos's). */
  kubernetesReleases?: GitHubReleases;
  /** Resolves a secret named in the inventory ({env} or {file}); never logged, never returned. */
  readSecret: (ref: { env: string } | { file: string }) => Promise<string>;
  /** Where the queue reads a delivered merge's versions file at both commits (GitHub or git). */
  repositorySource?: FileSource;
  /** How often long waits poll; the lab's tests shorten it. */
  pollIntervalMs?: number;
  /** How long a Terraform run waits for the creates of nodes just destroyed (2 s; tests on a loaded machine lengthen it). */
  terraformFollowUpMs?: number;
}

export interface ClusterHandle extends ClusterAccess {
  name: string;
  kc: KubeConfig;
  resolvePath(path: string): string;
  node(name: string): InventoryNode;
}

/** Per-cluster state built once per worker: the inventory and a loaded kubeconfig. */
export function clusterHandles(deps: ActivityDeps): (name: string) => ClusterHandle {
  const cache = new Map<string, ClusterHandle>();
  return (name) => {
    const cached = cache.get(name);
    if (cached) return cached;
    const access = deps.clusters[name];
    if (!access) {
      throw nonRetryable(
        'ValidationFailed',
        `this worker has no inventory for cluster "${name}" (it knows: ${Object.keys(deps.clusters).join(', ') || 'none'})`,
      );
    }
    const kc = new KeepAliveKubeConfig();
    kc.loadFromFile(access.kubeconfig);
    const handle: ClusterHandle = {
      ...access,
      name,
      kc,
      resolvePath: (path) => (isAbsolute(path) ? path : resolve(access.baseDir, path)),
      node: (nodeName) => {
        const node = findNode(access.inventory, nodeName);
        if (!node)
          throw nonRetryable(
            'ValidationFailed',
            `cluster ${name} has no node "${nodeName}" in its inventory`,
          );
        return node;
      },
    };
    cache.set(name, handle);
    return handle;
  };
}

export function inventoryBaseDir(inventoryFile: string): string {
  return dirname(resolve(inventoryFile));
}
