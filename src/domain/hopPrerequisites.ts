import { compareVersions } from './version.js';

/**
 * What a Talos release needs done in the cluster before nodes move onto it, which the product cannot
 * do itself. An operator who has done it says so in the inventory (`policy.acknowledged`).
 */
export const PREREQUISITES = {
  'talos-1.13-nvidia-cdi': {
    from: '1.13.0',
    applies: (cluster: PrerequisiteCluster) => cluster.gpuNodes.length > 0,
    message: (cluster: PrerequisiteCluster) =>
      `Talos 1.13 switched to CDI for NVIDIA GPUs: before ${cluster.gpuNodes.join(', ')} move to it, set up GPU support as Talos 1.13's upgrade notes say (the NVIDIA device plugin or gpu-operator in CDI mode, the "nvidia" RuntimeClass changed with it), or GPU pods stop starting. Then add talos-1.13-nvidia-cdi to policy.acknowledged in the inventory.`,
  },
} as const;

/** Whether a GPU model (as the inventory names it) is an NVIDIA card, which 1.13's CDI switch concerns. */
export function isNvidia(model: string): boolean {
  return /nvidia|geforce|quadro|tesla|\brtx\b/i.test(model);
}

export type PrerequisiteId = keyof typeof PREREQUISITES;

export interface PrerequisiteCluster {
  /** The NVIDIA GPU nodes. */
  gpuNodes: string[];
  acknowledged: readonly string[];
}

/** The prerequisites a run's hops cross that the inventory has not acknowledged, with what to do. */
export function unmetPrerequisites(
  hops: ReadonlyArray<{ from: string; to: string }>,
  cluster: PrerequisiteCluster,
): Array<{ id: PrerequisiteId; message: string }> {
  return (Object.keys(PREREQUISITES) as PrerequisiteId[])
    .filter((id) => {
      const p = PREREQUISITES[id];
      const crosses = hops.some(
        (h) => compareVersions(h.from, p.from) < 0 && compareVersions(h.to, p.from) >= 0,
      );
      return crosses && p.applies(cluster) && !cluster.acknowledged.includes(id);
    })
    .map((id) => ({ id, message: PREREQUISITES[id].message(cluster) }));
}
