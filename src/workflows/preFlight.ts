import { ApplicationFailure } from '@temporalio/workflow';
import { FAILURE, isNvidia, unmetPrerequisites } from '../domain/index.js';
import type { ClusterDescription } from '../activities/cluster.js';
import { quick } from './activityOptions.js';
import type { waits as defaultWaits } from './activityOptions.js';
import type { ClusterRun } from './clusterRun.js';

/**
 * Before anything is touched: the hops' prerequisites, every installer image, the GPU patches, etcd
 * with all its members, and the cluster's health. Any failure here halts the run with nothing changed.
 */
export async function preFlight(
  run: ClusterRun,
  cluster: ClusterDescription,
  /** The cluster's waits (its policy.heartbeatTimeout), as the run made them. */
  waits: typeof defaultWaits,
): Promise<void> {
  const name = run.request.cluster;
  const controllers = cluster.nodes.filter((n) => n.role === 'controlplane');
  run.phase('PreFlight');
  // Runs that described their cluster before prerequisites existed (no `acknowledged`) replay without.
  const unmet = cluster.acknowledged
    ? unmetPrerequisites(run.hops, {
        gpuNodes: cluster.nodes.filter((n) => n.gpuModel && isNvidia(n.gpuModel)).map((n) => n.name),
        acknowledged: cluster.acknowledged,
      })
    : [];
  if (unmet.length)
    throw ApplicationFailure.nonRetryable(unmet.map((u) => u.message).join(' '), FAILURE.PrerequisiteMissing);
  for (const hop of run.hops) await quick.checkInstallerImages({ cluster: name, version: hop.to });
  await quick.validateGpuPatches({ cluster: name });
  const etcd = await quick.checkEtcdHealth({ cluster: name });
  if (etcd.unhealthy.length > 0 || etcd.members.length !== controllers.length) {
    throw ApplicationFailure.nonRetryable(
      `etcd is not healthy with all members (${etcd.healthy.length}/${etcd.members.length} healthy, ${controllers.length} control-plane nodes)`,
      FAILURE.QuorumAtRisk,
    );
  }
  const health = await waits.runHealthChecks({ cluster: name });
  if (!health.ok)
    throw ApplicationFailure.nonRetryable(
      `the cluster is not healthy before the upgrade: ${health.summary}`,
      FAILURE.HealthCheckFailed,
    );
}
