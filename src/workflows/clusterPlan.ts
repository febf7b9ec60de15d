import { ApplicationFailure, upsertSearchAttributes } from '@temporalio/workflow';
import {
  changeKind,
  compareVersions,
  describeWindow,
  FAILURE,
  parseVersion,
  PlanError,
  planUpgrade,
  ReleaseList,
  type TalosHop,
  type UpgradePlan,
} from '../domain/index.js';
import type { ClusterDescription } from '../activities/cluster.js';
import { quick } from './activityOptions.js';
import type { ClusterRun } from './clusterRun.js';

function oldest(versions: string[]): string | undefined {
  return [...versions].sort(compareVersions)[0];
}

/** Why a hop takes its strategy, for the run's result in the history (and the labels that asked nothing). */
function hopReason(hop: TalosHop, request: ClusterRun['request']): string {
  const why =
    hop.strategyReason ??
    (request.strategy
      ? `requested ${request.strategy}`
      : `policy: ${hop.change} upgrades run as ${hop.strategy}`);
  return request.strategyNote ? `${why} (${request.strategyNote})` : why;
}

/**
 * Reads the cluster and plans the run: the versions it starts from, the hops (pets or cattle) and
 * the Kubernetes steps. Fills in the run's versions and hops; a plan the domain refuses fails the
 * run without touching anything (PlanRefused).
 */
export async function planRun(run: ClusterRun): Promise<{ cluster: ClusterDescription; plan: UpgradePlan }> {
  const { request } = run;
  const cluster: ClusterDescription = await quick.describeCluster({ cluster: request.cluster });
  if (cluster.maintenanceWindows?.length)
    run.progress.maintenanceWindows = cluster.maintenanceWindows.map(describeWindow);
  // The oldest node sets the start: after a halted run the cluster is mixed, and a new run must
  // still take the nodes left behind (the ones already there are skipped).
  const running =
    request.talos.from ??
    oldest(Object.values(await quick.getTalosVersions({ cluster: request.cluster }))) ??
    request.talos.to;
  const talos = { from: parseVersion(running), to: parseVersion(request.talos.to) };
  run.talos = talos;
  upsertSearchAttributes({
    TalosCluster: [request.cluster],
    TalosFromVersion: [talos.from],
    TalosToVersion: [talos.to],
  });

  let plan: UpgradePlan;
  try {
    // Only a jump over minors needs the release list (to land on each minor's newest patch).
    const needsReleases = talos.from !== talos.to && changeKind(talos.from, talos.to) !== 'patch';
    const releases = cluster.releases ?? (needsReleases ? await quick.fetchTalosReleases() : undefined);
    plan = planUpgrade(
      {
        talosFrom: talos.from,
        talosTo: talos.to,
        ...(request.kubernetes
          ? {
              kubernetesFrom:
                request.kubernetes.from ?? (await quick.getKubernetesVersion({ cluster: request.cluster })),
              kubernetesTo: request.kubernetes.to,
            }
          : {}),
        ...(request.strategy ? { strategyOverride: request.strategy } : {}),
        ...(releases ? { talosReleases: new ReleaseList(releases) } : {}),
        kubernetesSupport: cluster.kubernetesSupport,
      },
      cluster.planning,
    );
  } catch (error) {
    if (error instanceof PlanError) throw ApplicationFailure.nonRetryable(error.message, FAILURE.PlanRefused);
    throw error;
  }
  run.hops = plan.hops.map((h) => ({
    from: h.from,
    to: h.to,
    strategy: h.strategy,
    reason: hopReason(h, request),
  }));
  return { cluster, plan };
}
