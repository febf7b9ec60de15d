import { ApplicationFailure, upsertSearchAttributes } from '@temporalio/workflow';
import {
  changeKind,
  compareVersions,
  describeWindow,
  FAILURE,
  kubernetesNeedsReleases,
  parseVersion,
  PlanError,
  planUpgrade,
  ReleaseList,
  unsupportedTalos,
  VersionError,
  type TalosHop,
  type UpgradePlan,
} from '../domain/index.js';
import type { ClusterDescription } from '../activities/cluster.js';
import { quick } from './activityOptions.js';
import type { ClusterRun } from './clusterRun.js';
import { runningOnNamed, scopeToNamedNodes } from './nodeScope.js';

/**
 * Where the run starts: from what the nodes run, never from the file alone. The merge's base (or an
 * operator's --from) may lag the cluster or come from a stale delivery; a target older than a node
 * runs would install an older Talos. Returns the start, and a note when the request said otherwise.
 */
function startFromNodes(
  request: ClusterRun['request'],
  running: Record<string, string>,
): { from: string; to: string; note?: string } {
  const to = parseVersion(request.talos.to, 'the requested Talos version');
  const nodes = Object.entries(running).map(([node, version]) => ({ node, version: parseVersion(version) }));
  const unsupported = [
    unsupportedTalos(to, 'the requested'),
    ...nodes.map((n) => unsupportedTalos(n.version, `${n.node} runs`)),
  ].find(Boolean);
  if (unsupported) throw ApplicationFailure.nonRetryable(unsupported, FAILURE.PlanRefused);
  nodes.sort((a, b) => compareVersions(a.version, b.version));
  const oldest = nodes[0];
  const newest = nodes[nodes.length - 1];
  if (!oldest || !newest) return { from: request.talos.from ?? to, to };
  const base = request.talos.from ? parseVersion(request.talos.from) : undefined;
  const lagging =
    base && base !== oldest.version
      ? `the request starts from Talos ${base}, but the nodes run ${oldest.version}${newest.version !== oldest.version ? `–${newest.version}` : ''}: planned from the nodes`
      : undefined;
  if (compareVersions(oldest.version, to) >= 0) {
    // Every node is there already, or past it (an older merge delivered after a newer one ran).
    const past = compareVersions(newest.version, to) > 0;
    const note = past
      ? `every node runs Talos ${oldest.version} or newer (${newest.node}: ${newest.version}), not older than the requested ${to}: nothing older is ever installed`
      : lagging;
    return { from: oldest.version, to: oldest.version, ...(note ? { note } : {}) };
  }
  if (compareVersions(newest.version, to) > 0)
    throw ApplicationFailure.nonRetryable(
      `a downgrade: ${newest.node} runs Talos ${newest.version}, newer than the requested ${to}; nothing older than a node runs is ever installed. Ask for ${newest.version} or newer to bring the other nodes to it`,
      FAILURE.PlanRefused,
    );
  return { from: oldest.version, to, ...(lagging ? { note: lagging } : {}) };
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
  const cluster: ClusterDescription = scopeToNamedNodes(
    await quick.describeCluster({ cluster: request.cluster }),
    request,
  );
  if (cluster.maintenanceWindows?.length)
    run.progress.maintenanceWindows = cluster.maintenanceWindows.map(describeWindow);
  // Read by the approve and reject validators (and signals) from here on.
  if (cluster.approvers) run.progress.approvers = cluster.approvers;
  // The oldest node sets the start: after a halted run the cluster is mixed, and a new run must
  // still take the nodes left behind (the ones already there are skipped).
  let start: ReturnType<typeof startFromNodes>;
  try {
    const running = await quick.getTalosVersions({ cluster: request.cluster });
    start = startFromNodes(request, runningOnNamed(running, request));
  } catch (error) {
    if (error instanceof VersionError)
      throw ApplicationFailure.nonRetryable(error.message, FAILURE.PlanRefused);
    throw error;
  }
  const talos = { from: start.from, to: start.to };
  run.talos = talos;
  const only = cluster.scope && `only ${cluster.scope.named.join(', ')} (start --nodes)`;
  const note = [only, start.note].filter(Boolean).join('; ');
  if (note) {
    run.progress.planNote = note;
    run.details();
  }
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
    // What the API server runs, never the file's base: the same rule as Talos's.
    const kubernetes = request.kubernetes && {
      kubernetesFrom: await quick.getKubernetesVersion({ cluster: request.cluster }),
      kubernetesTo: request.kubernetes.to,
    };
    // Likewise a Kubernetes step through a minor it does not stop at.
    const kubernetesReleases =
      cluster.kubernetesReleases ??
      (kubernetes && kubernetesNeedsReleases(kubernetes.kubernetesFrom, kubernetes.kubernetesTo)
        ? await quick.fetchKubernetesReleases()
        : undefined);
    plan = planUpgrade(
      {
        talosFrom: talos.from,
        talosTo: talos.to,
        ...kubernetes,
        ...(request.strategy ? { strategyOverride: request.strategy } : {}),
        ...(releases ? { talosReleases: new ReleaseList(releases) } : {}),
        ...(kubernetesReleases ? { kubernetesReleases: new ReleaseList(kubernetesReleases) } : {}),
        kubernetesSupport: cluster.kubernetesSupport,
      },
      cluster.planning,
    );
  } catch (error) {
    if (error instanceof PlanError || error instanceof VersionError)
      throw ApplicationFailure.nonRetryable(error.message, FAILURE.PlanRefused);
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
