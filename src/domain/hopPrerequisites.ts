import semver from 'semver';
import { compareMinors, compareVersions, minorOf } from './version.js';

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

/**
 * The oldest etcd a Talos minor runs: Talos 1.14 supports etcd 3.6 and later only (its release notes,
 * "etcd"; its default is 3.7.1, pkg/machinery/constants at v1.14.1). Older minors run what they are given.
 */
const ETCD_FLOOR: Readonly<Record<string, string>> = { '1.14': '3.6.0' };

/**
 * Why a hop's target cannot run the etcd the controllers run today (by node, `etcd status`'s version),
 * or undefined. Only a pinned `cluster.etcd.image` keeps an etcd older than Talos's own default: the
 * hop is refused before anything moves, as a controller on the new Talos would not run it.
 */
export function etcdBelowFloor(
  hops: ReadonlyArray<{ from: string; to: string }>,
  versions: Readonly<Record<string, string>>,
): string | undefined {
  for (const hop of hops) {
    // The floor of the newest minor that has one, at or below the target (it holds for later minors too).
    const floor = Object.entries(ETCD_FLOOR)
      .filter(([minor]) => compareMinors(minor, minorOf(hop.to)) <= 0)
      .sort(([a], [b]) => compareMinors(b, a))[0]?.[1];
    if (!floor) continue;
    const old = Object.entries(versions).filter(([, v]) => {
      const parsed = semver.coerce(v);
      return parsed !== null && semver.lt(parsed, floor);
    });
    if (old.length > 0)
      return `Talos ${minorOf(hop.to)} runs etcd ${minorOf(floor)} and later only, and ${old.map(([node, v]) => `${node} runs etcd ${v}`).join(', ')}: the controllers' machine config pins cluster.etcd.image to an older release. Move it to a ${minorOf(floor)} release (or remove it for Talos's default) one controller at a time, with etcd healthy in between (talosctl -n <ip> patch mc), then start again. Nothing was touched.`;
  }
  return undefined;
}
