import { clusterActivities } from './cluster.js';
import { configContractActivities } from './configContract.js';
import { clusterHandles, type ActivityDeps } from './deps.js';
import { finalStateActivities } from './finalState.js';
import { gpuActivities } from './gpuPatches.js';
import { healthActivities } from './health.js';
import { imageFactoryActivities } from './imageFactory.js';
import { kubernetesActivities } from './kubernetes.js';
import { notifyActivities } from './notify.js';
import { pollActivities } from './pollMerges.js';
import { registryActivities } from './registry.js';
import { releaseActivities } from './releases.js';
import { talosActivities } from './talos.js';
import { talosConfigActivities } from './talosConfig.js';
import { talosInstallActivities } from './talosInstall.js';
import { terraformActivities, workspaceQueues } from './terraform.js';
import { upgradeRunActivities } from './upgradeRuns.js';
import { versionChangeActivities } from './versionChange.js';

export type { ActivityDeps, ClusterAccess } from './deps.js';
export { FAILURE } from './errors.js';
export { gitCloneSource, githubContentsSource, type FileSource } from './repositorySource.js';
export type { VersionReading } from './versionChange.js';
export type { PollResult } from './pollMerges.js';

/**
 * Every side effect of the product, bound to its dependencies. The worker registers the result;
 * workflows import only its type.
 */
export function createActivities(deps: ActivityDeps) {
  const cluster = clusterHandles(deps);
  const queues = workspaceQueues(deps);
  return {
    ...clusterActivities(cluster),
    ...configContractActivities(cluster),
    ...talosActivities(deps, cluster),
    ...talosConfigActivities(deps, cluster),
    ...talosInstallActivities(deps, cluster),
    ...kubernetesActivities(deps, cluster, queues),
    ...terraformActivities(deps, cluster, queues),
    ...healthActivities(deps, cluster),
    ...finalStateActivities(deps, cluster),
    ...registryActivities(cluster),
    ...imageFactoryActivities(deps, cluster),
    ...gpuActivities(cluster),
    ...notifyActivities(deps, cluster),
    ...releaseActivities(deps),
    ...upgradeRunActivities(deps),
    ...versionChangeActivities(deps, cluster),
    ...pollActivities(deps, cluster),
  };
}

export type Activities = ReturnType<typeof createActivities>;
