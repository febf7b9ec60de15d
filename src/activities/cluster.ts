import type { KubernetesRange, MaintenanceWindow, PlanningPolicy, WindowState } from '../domain/index.js';
import { kubernetesSupportOf, planningPolicyOf, windowStateAt } from '../domain/index.js';
import type { ClusterHandle } from './deps.js';

/** What the workflows need to know of a cluster: no secrets, no paths, just shape and policy. */
export interface ClusterDescription {
  name: string;
  nodes: Array<{ name: string; role: 'controlplane' | 'worker'; gpu: boolean; gpuModel?: string }>;
  planning: PlanningPolicy;
  kubernetesSupport: Record<string, KubernetesRange>;
  releases?: string[];
  /** versions.kubernetesReleases: the Kubernetes releases, when the worker is not to ask GitHub. */
  kubernetesReleases?: string[];
  timing: {
    drainTimeoutMs: number;
    nodeReadyTimeoutMs: number;
    stabilisationMs: number;
    recoveryTimeoutMs: number;
    approvalTimeoutMs: number;
    /** policy.heartbeatTimeout (absent in histories from before it existed: 60 s). */
    heartbeatTimeoutMs?: number;
  };
  maxParallelWorkers: number;
  drainForce: boolean;
  installBeforeDrain: boolean;
  /** Release prerequisites the operator has done (absent in histories from before it existed). */
  acknowledged?: string[];
  notifications: number;
  /** When nodes may start (absent when any time will do, and in histories from before windows). */
  maintenanceWindows?: MaintenanceWindow[];
  /**
   * policy.canary: one node first, then a hold (absent: no trial); a worker unless `after` says the
   * first controller (absent in histories from before it: a worker).
   */
  canary?: { holdMs: number; after?: 'worker' | 'controller' };
  /** policy.approval.approvers (absent when anyone may answer). */
  approvers?: string[];
  /**
   * Set by a run that `start --nodes` scoped to some nodes (then `nodes` holds only those): the nodes
   * named, and how many controllers the cluster has (etcd's members are all of them).
   */
  scope?: { named: string[]; controllers: number };
}

export function clusterActivities(cluster: (name: string) => ClusterHandle) {
  /** Read once per run and kept in its history, so a replay sees the cluster as the run saw it. */
  async function describeCluster(input: { cluster: string }): Promise<ClusterDescription> {
    const { inventory, name } = cluster(input.cluster);
    const { policy } = inventory;
    return {
      name,
      nodes: inventory.nodes.map((node) => ({
        name: node.name,
        role: node.role,
        gpu: !!node.gpu,
        ...(node.gpu ? { gpuModel: node.gpu.model } : {}),
      })),
      planning: planningPolicyOf(inventory),
      kubernetesSupport: kubernetesSupportOf(inventory),
      ...(inventory.versions.releases ? { releases: inventory.versions.releases } : {}),
      ...(inventory.versions.kubernetesReleases
        ? { kubernetesReleases: inventory.versions.kubernetesReleases }
        : {}),
      timing: {
        drainTimeoutMs: policy.drain.timeout,
        nodeReadyTimeoutMs: policy.nodeReadyTimeout,
        stabilisationMs: policy.stabilisation,
        recoveryTimeoutMs: policy.recoveryTimeout,
        approvalTimeoutMs: policy.approvalTimeout,
        heartbeatTimeoutMs: policy.heartbeatTimeout,
      },
      maxParallelWorkers: policy.maxParallelWorkers,
      drainForce: policy.drain.force,
      installBeforeDrain: policy.installBeforeDrain,
      acknowledged: policy.acknowledged,
      notifications: inventory.notifications.length,
      ...(policy.maintenanceWindows.length ? { maintenanceWindows: policy.maintenanceWindows } : {}),
      ...(policy.canary ? { canary: { holdMs: policy.canary.hold, after: policy.canary.after } } : {}),
      ...(policy.approval.approvers.length ? { approvers: policy.approval.approvers } : {}),
    };
  }

  /**
   * Whether a maintenance window is open at the workflow's `at`. An activity, not workflow code: time
   * zone rules come with the runtime's ICU data, and a replay on a newer one must not decide otherwise.
   */
  async function maintenanceWindowState(input: {
    windows: MaintenanceWindow[];
    at: number;
  }): Promise<WindowState> {
    return Promise.resolve(windowStateAt(input.windows, input.at));
  }
  return { describeCluster, maintenanceWindowState };
}
