import { ApplicationFailure } from '@temporalio/workflow';
import { FAILURE } from '../domain/index.js';
import type { ClusterDescription } from '../activities/cluster.js';
import type { UpgradeRequest } from './types.js';

/**
 * `start --nodes a,b`: the run takes only the named nodes (a trial by hand, or the nodes a halted run
 * left behind), so the cluster it plans for holds only those, and its `scope` keeps what the whole
 * cluster is (etcd's members are every controller, whichever are named). Refused before anything
 * moves: a name the inventory does not hold, and a Kubernetes change (upgrade-k8s moves every node).
 */
export function scopeToNamedNodes(cluster: ClusterDescription, request: UpgradeRequest): ClusterDescription {
  const named = request.nodes;
  if (!named) return cluster;
  const unknown = named.filter((name) => !cluster.nodes.some((n) => n.name === name));
  if (unknown.length > 0)
    throw ApplicationFailure.nonRetryable(
      `--nodes names ${unknown.join(', ')}, not in the inventory of ${cluster.name} (its nodes: ${cluster.nodes.map((n) => n.name).join(', ')})`,
      FAILURE.PlanRefused,
    );
  if (request.kubernetes)
    throw ApplicationFailure.nonRetryable(
      'a Kubernetes upgrade moves every node (talosctl upgrade-k8s): it cannot be limited to --nodes; upgrade Talos on the nodes first, then Kubernetes without --nodes',
      FAILURE.PlanRefused,
    );
  return {
    ...cluster,
    nodes: cluster.nodes.filter((n) => named.includes(n.name)),
    scope: { named, controllers: cluster.nodes.filter((n) => n.role === 'controlplane').length },
  };
}

/** What the nodes of a scoped run run: the versions the plan starts from are theirs alone. */
export function runningOnNamed(
  running: Record<string, string>,
  request: UpgradeRequest,
): Record<string, string> {
  const named = request.nodes;
  return named
    ? Object.fromEntries(Object.entries(running).filter(([node]) => named.includes(node)))
    : running;
}
