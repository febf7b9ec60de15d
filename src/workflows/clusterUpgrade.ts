import {
  ApplicationFailure,
  CancellationScope,
  ChildWorkflowCancellationType,
  condition,
  executeChild,
  log,
  patched,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import {
  changeKind,
  compareVersions,
  parseVersion,
  PlanError,
  unmetPrerequisites,
  isNvidia,
  planUpgrade,
  ReleaseList,
  type UpgradePlan,
} from '../domain/index.js';
import type { ClusterDescription } from '../activities/cluster.js';
import type { NotificationEvent } from '../activities/notify.js';
import { long, notifications, quick } from './activityOptions.js';
import { describeFailure, failureType, wasCancelled } from './failures.js';
import { nodeUpgrade } from './nodeUpgrade.js';
import { approveSignal, pauseSignal, progressQuery, rejectSignal, resumeSignal } from './signals.js';
import type { ClusterProgress, ClusterUpgradeResult, UpgradeRequest } from './types.js';

class RunStopped extends Error {
  constructor(
    readonly outcome: ClusterUpgradeResult['outcome'],
    readonly reason: string,
  ) {
    super(reason);
  }
}

function oldest(versions: string[]): string | undefined {
  return [...versions].sort(compareVersions)[0];
}

function batches<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * Runs at most `width` items at a time and starts the next as soon as one finishes, so one slow node
 * (a PDB waiting out its drain timeout) no longer holds back the rest of its batch. After a failure
 * it starts nothing new, lets the nodes in flight finish (or roll back), then throws the first failure.
 */
async function rollingWindow<T>(items: T[], width: number, run: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  let failure: { error: unknown } | undefined;
  const lane = async () => {
    for (let item = queue.shift(); item !== undefined && !failure; item = queue.shift()) {
      try {
        await run(item);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, lane));
  if (failure) throw failure.error;
}

/**
 * Runs started since this patch take the workers in a rolling window and send the per-node
 * notifications without waiting for them; histories recorded before it replay the strict batches
 * and the awaited notifications they were made with.
 */
const ORCHESTRATION_V2 = 'orchestration-v2';

/**
 * One upgrade of one cluster: plan, approval, pre-flight, etcd snapshot, templates, control plane one
 * node at a time behind the quorum gate, workers in batches, Kubernetes, final validation. A failed
 * node halts the run after its compensation; a cancel finishes the node in flight safely and stops.
 */
export async function clusterUpgrade(request: UpgradeRequest): Promise<ClusterUpgradeResult> {
  const started = Date.now();
  const v2 = patched(ORCHESTRATION_V2);
  // Per-node notifications in flight; the run waits for them only before it ends.
  const background: Array<Promise<unknown>> = [];
  const progress: ClusterProgress = {
    phase: 'Planning',
    paused: false,
    current: [],
    inFlight: [],
    nodes: [],
    totalNodeUpgrades: 0,
  };
  let approval: { by: string; comment?: string } | undefined;
  let rejection: { by: string; reason?: string } | undefined;
  setHandler(progressQuery, () => progress, {
    description: 'Where the run is: phase, hop, nodes in flight and done',
  });
  setHandler(approveSignal, (by) => void (approval = by), {
    description: 'Approve the upgrade: {"by": "name", "comment": "..."}',
  });
  setHandler(rejectSignal, (by) => void (rejection = by), {
    description: 'Reject the upgrade: {"by": "name", "reason": "..."}; nothing is touched',
  });
  setHandler(pauseSignal, () => void (progress.paused = true), {
    description: 'Hold the run before the next node',
  });
  setHandler(resumeSignal, () => void (progress.paused = false), { description: 'Carry on after a pause' });

  const phase = (name: string) => {
    progress.phase = name;
    upsertSearchAttributes({ UpgradePhase: [name] });
  };
  const notify = (event: NotificationEvent) =>
    notifications.notify({ cluster: request.cluster, event }).catch(() => undefined);
  const base = { cluster: request.cluster, requestId: request.requestId };

  const cluster: ClusterDescription = await quick.describeCluster({ cluster: request.cluster });
  // The oldest node sets the start: after a halted run the cluster is mixed, and a new run must
  // still take the nodes left behind (the ones already there are skipped).
  const running =
    request.talos.from ??
    oldest(Object.values(await quick.getTalosVersions({ cluster: request.cluster }))) ??
    request.talos.to;
  const talos = { from: parseVersion(running), to: parseVersion(request.talos.to) };
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
    if (error instanceof PlanError) throw ApplicationFailure.nonRetryable(error.message, 'PlanRefused');
    throw error;
  }
  const hops = plan.hops.map((h) => ({ from: h.from, to: h.to, strategy: h.strategy }));
  const result = (
    outcome: ClusterUpgradeResult['outcome'],
    reason?: string,
    snapshot?: string,
  ): ClusterUpgradeResult => ({
    ...base,
    outcome,
    ...(reason ? { reason } : {}),
    talos,
    hops,
    ...(approval ? { approvedBy: approval } : {}),
    nodes: progress.nodes,
    ...(snapshot ? { etcdSnapshot: snapshot } : {}),
    durationMs: Date.now() - started,
  });
  if (plan.steps.length === 0) {
    phase('Done');
    return result('nothing-to-do', `${request.cluster} already runs Talos ${talos.to}`);
  }
  upsertSearchAttributes({ UpgradeStrategy: [...new Set(hops.map((h) => h.strategy))].sort() });
  const controllers = cluster.nodes.filter((n) => n.role === 'controlplane');
  const workers = cluster.nodes.filter((n) => n.role === 'worker');
  progress.totalNodeUpgrades = hops.length * cluster.nodes.length;

  if (plan.requiresApproval) {
    phase('AwaitingApproval');
    progress.approval = { state: 'waiting' };
    await notify({
      kind: 'approval',
      from: talos.from,
      to: talos.to,
      workflowId: workflowInfo().workflowId,
      timeoutHours: Math.round(cluster.timing.approvalTimeoutMs / 3_600_000),
    });
    const decided = await condition(
      () => approval !== undefined || rejection !== undefined,
      cluster.timing.approvalTimeoutMs,
    );
    if (rejection || !decided) {
      progress.approval = {
        state: rejection ? 'rejected' : 'timed-out',
        ...(rejection ? { by: rejection.by } : {}),
      };
      phase(rejection ? 'Rejected' : 'ApprovalTimedOut');
      const reason = rejection
        ? `rejected by ${rejection.by}${rejection.reason ? `: ${rejection.reason}` : ''}`
        : `no approval within ${Math.round(cluster.timing.approvalTimeoutMs / 60_000)} min`;
      await notify({
        kind: 'complete',
        from: talos.from,
        to: talos.to,
        outcome: 'rejected',
        durationMs: Date.now() - started,
        upgraded: 0,
        failed: 0,
      });
      return result('rejected', `${reason}; nothing was touched`);
    }
    progress.approval = {
      state: 'approved',
      by: approval?.by ?? '',
      ...(approval?.comment ? { comment: approval.comment } : {}),
    };
  }

  let snapshot: string | undefined;
  try {
    phase('PreFlight');
    // Runs that described their cluster before prerequisites existed (no `acknowledged`) replay without.
    const unmet = cluster.acknowledged
      ? unmetPrerequisites(hops, {
          gpuNodes: cluster.nodes.filter((n) => n.gpuModel && isNvidia(n.gpuModel)).map((n) => n.name),
          acknowledged: cluster.acknowledged,
        })
      : [];
    if (unmet.length)
      throw ApplicationFailure.nonRetryable(unmet.map((u) => u.message).join(' '), 'PrerequisiteMissing');
    for (const hop of hops) await quick.checkInstallerImages({ cluster: request.cluster, version: hop.to });
    await quick.validateGpuPatches({ cluster: request.cluster });
    const etcd = await quick.checkEtcdHealth({ cluster: request.cluster });
    if (etcd.unhealthy.length > 0 || etcd.members.length !== controllers.length) {
      throw ApplicationFailure.nonRetryable(
        `etcd is not healthy with all members (${etcd.healthy.length}/${etcd.members.length} healthy, ${controllers.length} control-plane nodes)`,
        'QuorumAtRisk',
      );
    }
    const health = await long.runHealthChecks({ cluster: request.cluster });
    if (!health.ok)
      throw ApplicationFailure.nonRetryable(
        `the cluster is not healthy before the upgrade: ${health.summary}`,
        'HealthCheckFailed',
      );

    phase('EtcdSnapshot');
    snapshot = (await long.takeEtcdSnapshot({ cluster: request.cluster })).path;
    // The documents' figures: about 6 minutes a node for cattle, 3 for pets.
    const estimate = hops.reduce(
      (sum, hop) => sum + cluster.nodes.length * (hop.strategy === 'cattle' ? 6 : 3),
      0,
    );
    await notify({
      kind: 'start',
      from: talos.from,
      to: talos.to,
      strategy: hops.map((h) => h.strategy).join('+'),
      nodeCount: cluster.nodes.length,
      estimateMinutes: estimate,
      workflowId: workflowInfo().workflowId,
    });

    for (const step of plan.steps) {
      if (step.type === 'kubernetes') {
        phase('UpgradingKubernetes');
        await long.upgradeKubernetes({ cluster: request.cluster, version: step.to });
        continue;
      }
      progress.hop = `${step.from}->${step.to}`;
      if (step.strategy === 'cattle') {
        phase('RebuildingTemplates');
        await long.rebuildTemplates({ cluster: request.cluster, version: step.to });
      }
      const runNode = async (node: { name: string; role: 'controlplane' | 'worker' }) => {
        await condition(() => !progress.paused);
        progress.current.push(node.name);
        const childId = `${workflowInfo().workflowId}:node:${node.name}:${step.to}`;
        progress.inFlight.push({ node: node.name, workflowId: childId });
        const nodeStarted = Date.now();
        try {
          const outcome = await executeChild(nodeUpgrade, {
            workflowId: childId,
            cancellationType: ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
            args: [
              {
                cluster: request.cluster,
                node: node.name,
                role: node.role,
                strategy: step.strategy,
                from: step.from,
                to: step.to,
                timing: cluster.timing,
                drainForce: cluster.drainForce,
                installBeforeDrain: cluster.installBeforeDrain,
              },
            ],
          });
          progress.nodes.push(outcome);
          const sent = notify({
            kind: 'node',
            node: node.name,
            outcome: outcome.outcome === 'skipped' ? 'skipped' : 'upgraded',
            durationMs: outcome.durationMs,
          });
          if (v2) background.push(sent);
          else await sent;
        } catch (error) {
          const cancelled = wasCancelled(error);
          const detail = describeFailure(error);
          const rollbackFailed = detail.includes('ROLLBACK FAILED');
          progress.nodes.push({
            node: node.name,
            hop: `${step.from}->${step.to}`,
            strategy: step.strategy,
            outcome: cancelled ? 'rolled-back' : rollbackFailed ? 'rollback-failed' : 'rolled-back',
            durationMs: Date.now() - nodeStarted,
            error: cancelled ? 'cancelled' : detail,
          });
          if (cancelled) throw error;
          await notify(
            rollbackFailed
              ? { kind: 'critical', message: detail }
              : { kind: 'rollback', node: node.name, reason: detail },
          );
          throw new RunStopped('failed', detail);
        } finally {
          progress.current = progress.current.filter((n) => n !== node.name);
          progress.inFlight = progress.inFlight.filter((f) => f.node !== node.name);
        }
      };
      phase('UpgradingControlPlane');
      for (const node of controllers) await runNode(node);
      phase('UpgradingWorkers');
      if (v2) {
        await rollingWindow(workers, cluster.maxParallelWorkers, runNode);
      } else {
        for (const batch of batches(workers, cluster.maxParallelWorkers)) {
          const settled = await Promise.allSettled(batch.map((node) => runNode(node)));
          const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
          if (failed) throw failed.reason;
        }
      }
    }

    phase('FinalValidation');
    await Promise.all(background);
    const final = await long.runHealthChecks({ cluster: request.cluster });
    if (!final.ok) throw new RunStopped('failed', `final validation failed: ${final.summary}`);
    phase('Done');
    await notify({
      kind: 'complete',
      from: talos.from,
      to: talos.to,
      outcome: 'succeeded',
      durationMs: Date.now() - started,
      upgraded: progress.nodes.filter((n) => n.outcome === 'upgraded').length,
      failed: 0,
    });
    return result('succeeded', undefined, snapshot);
  } catch (error) {
    const cancelled = wasCancelled(error);
    const stopped = error instanceof RunStopped ? error : undefined;
    const reason = cancelled
      ? 'cancelled: the node in flight was finished or rolled back; the rest was skipped'
      : (stopped?.reason ?? describeFailure(error));
    log.warn('cluster upgrade stopped', { reason, type: failureType(error) });
    const final = result(cancelled ? 'cancelled' : 'failed', reason, snapshot);
    await CancellationScope.nonCancellable(async () => {
      await Promise.all(background);
      phase(cancelled ? 'Cancelled' : 'Failed');
      const upgraded = progress.nodes.filter((n) => n.outcome === 'upgraded').length;
      const failed = progress.nodes.filter((n) => n.outcome !== 'upgraded' && n.outcome !== 'skipped').length;
      await notify({
        kind: 'complete',
        from: talos.from,
        to: talos.to,
        outcome: final.outcome === 'cancelled' ? 'cancelled' : 'failed',
        durationMs: final.durationMs,
        upgraded,
        failed,
      });
    });
    // A cancelled run ends normally with what was done; a failed one fails, so the Web UI shows it red.
    if (cancelled) return final;
    throw ApplicationFailure.nonRetryable(
      `upgrade of ${request.cluster} to Talos ${talos.to} failed: ${reason}`,
      'UpgradeFailed',
      final,
    );
  }
}
