import {
  ApplicationFailure,
  CancellationScope,
  log,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { checkInput, FAILURE, upgradeRequestSchema, type UpgradePlan } from '../domain/index.js';
import { heartbeating } from './activityOptions.js';
import { describeBlocking, untilRecovered } from './healthWait.js';
import { awaitApproval } from './approval.js';
import { runHop } from './clusterHop.js';
import { planRun } from './clusterPlan.js';
import { RunStopped, startClusterRun, type ClusterRun } from './clusterRun.js';
import { humanDuration } from './runDetails.js';
import { describeFailure, failureType, wasCancelled } from './failures.js';
import { awaitMaintenanceWindow } from './maintenanceWindow.js';
import { recordRun } from './metrics.js';
import { preFlight } from './preFlight.js';
import type { ClusterUpgradeResult, UpgradeRequest } from './types.js';
import type { ClusterDescription } from '../activities/cluster.js';

/**
 * A cluster run's workflow-task timeout, set where the queue starts a run and in the fleet, schedule,
 * overhead and unavailable benches: 60 s, a node run's at the default heartbeat timeout. At the server's
 * 10 s, a fleet on one worker (100 clusters) had up to 191 cluster-run tasks time out (most likely waiting
 * behind the other runs' tasks for the worker's one workflow thread), and each timeout evicts the run, which
 * replays its history (about 300 events) at its next task. The costs: a worker that dies during a cluster
 * run's task holds that run up to 60 s (the chaos and matrix benches and the workflow tests start runs at
 * the server's 10 s), and a signal or update that arrives while a local read of the run outlasts 8 s waits
 * for it up to 48 s instead of 8 s (the SDK renews the task at 80 % of its timeout).
 */
export const CLUSTER_WORKFLOW_TASK_TIMEOUT_MS = 60_000;

/**
 * One upgrade of one cluster: plan, pre-flight, approval (and pre-flight again), etcd snapshot, templates, control plane one
 * node at a time behind the quorum gate, workers in batches, Kubernetes, final validation. A failed
 * node halts the run after its compensation; a cancel finishes the node in flight safely and stops.
 */
export async function clusterUpgrade(input: UpgradeRequest): Promise<ClusterUpgradeResult> {
  const started = Date.now();
  const checked = checkInput(upgradeRequestSchema, input);
  if (!checked.ok)
    throw ApplicationFailure.nonRetryable(
      `not a valid upgrade request: ${checked.reason}`,
      FAILURE.InvalidRequest,
    );
  const request: UpgradeRequest = checked.value;
  const run = startClusterRun(request, started);

  let planned: Awaited<ReturnType<typeof planRun>>;
  try {
    planned = await planRun(run);
    if (planned.plan.steps.length === 0) {
      run.phase('Done');
      return run.result(
        'nothing-to-do',
        run.progress.planNote ?? `${request.cluster} already runs Talos ${run.talos.to}`,
      );
    }
    upsertSearchAttributes({ UpgradeStrategy: [...new Set(run.hops.map((h) => h.strategy))].sort() });
    run.progress.totalNodeUpgrades = run.hops.length * planned.cluster.nodes.length;
    if (request.dryRun) return await dryRun(run, planned.cluster, kubernetesFirst(planned.plan));
  } catch (error) {
    if (!wasCancelled(error)) {
      // Ends without run.result (a refused plan fails the run as it is): counted here. A cancel during
      // planning ends `cancelled`, with its notice.
      recordRun(request.cluster, wasCancelled(error) ? 'cancelled' : 'failed', Date.now() - started);
      throw error;
    }
    return reportEnd(run, error, undefined);
  }
  const { cluster, plan } = planned;
  // Steps that change the world settle before a cancel goes on: snapshot, templates, upgrade-k8s.
  const { mutating: act, waits } = heartbeating(cluster.timing.heartbeatTimeoutMs);

  let snapshot: string | undefined;
  try {
    // Before the approval wait: the approver sees what pre-flight found, and a refusal needs no approver.
    await preFlight(run, cluster, waits, kubernetesFirst(plan));
    if (plan.requiresApproval) {
      const ended = await awaitApproval(run, cluster);
      if (ended) return ended;
      // The wait may have lasted hours: the cluster is checked again as it is now.
      await preFlight(run, cluster, waits, kubernetesFirst(plan));
    }
    run.phase('EtcdSnapshot');
    snapshot = (await act.takeEtcdSnapshot({ cluster: request.cluster })).path;
    // The documents' figures: about 6 minutes a node for cattle, 3 for pets.
    const estimate = run.hops.reduce(
      (sum, hop) => sum + cluster.nodes.length * (hop.strategy === 'cattle' ? 6 : 3),
      0,
    );
    await run.notify({
      kind: 'start',
      from: run.talos.from,
      to: run.talos.to,
      strategy: run.hops.map((h) => h.strategy).join('+'),
      nodeCount: cluster.nodes.length,
      estimateMinutes: estimate,
      workflowId: workflowInfo().workflowId,
    });

    for (const step of plan.steps) {
      if (step.type === 'kubernetes') {
        await awaitMaintenanceWindow(run, cluster);
        run.phase('UpgradingKubernetes');
        await act.upgradeKubernetes({ cluster: request.cluster, version: step.to });
        continue;
      }
      await runHop(run, cluster, step, act);
    }

    run.phase('FinalValidation');
    await Promise.all(run.background);
    // The run ends with the cluster whole: storage that recovers from the last node is waited for.
    const final = await untilRecovered(
      () => waits.runHealthChecks({ cluster: request.cluster }),
      cluster.timing.recoveryTimeoutMs,
    );
    if (final.blocking.length > 0)
      throw new RunStopped(
        'failed',
        `final validation failed: ${final.report.summary}: ${describeBlocking(final.blocking)}`,
      );
    // The health checks ask whether the cluster serves; this, whether the run did what it said.
    const problems = await finalStateProblems(run, cluster, plan, waits);
    if (problems.length > 0)
      throw new RunStopped('failed', `final validation failed: ${problems.join('; ')}`);
    run.phase('Done');
    await run.notify({
      kind: 'complete',
      from: run.talos.from,
      to: run.talos.to,
      outcome: 'succeeded',
      durationMs: Date.now() - started,
      upgraded: run.progress.nodes.filter((n) => n.outcome === 'upgraded').length,
      failed: 0,
    });
    return run.result('succeeded', undefined, snapshot);
  } catch (error) {
    return reportEnd(run, error, snapshot);
  }
}

/** The version of the plan's first step when it is Kubernetes: pre-flight can dry-run it as Talos runs now. */
function kubernetesFirst(plan: UpgradePlan): string | undefined {
  const first = plan.steps[0];
  return first?.type === 'kubernetes' ? first.to : undefined;
}

/**
 * A dry run: the plan and the whole pre-flight against the live cluster, no approval wait, no
 * notification, nothing touched. It ends `dry-run` with the order the nodes would go in, or fails
 * with what pre-flight refused.
 */
async function dryRun(
  run: ClusterRun,
  cluster: ClusterDescription,
  kubernetes: string | undefined,
): Promise<ClusterUpgradeResult> {
  const { waits } = heartbeating(cluster.timing.heartbeatTimeoutMs);
  let found: string;
  try {
    found = await preFlight(run, cluster, waits, kubernetes);
  } catch (error) {
    if (wasCancelled(error)) return run.result('cancelled', 'the dry run was cancelled; nothing was touched');
    const reason = `pre-flight refused: ${describeFailure(error)}; nothing was touched`;
    run.phase('Failed');
    throw ApplicationFailure.nonRetryable(
      `dry run of ${run.request.cluster} to Talos ${run.talos.to}: ${reason}`,
      failureType(error) ?? FAILURE.UpgradeFailed,
      run.result('failed', reason),
    );
  }
  run.phase('Done');
  const names = (role: string) =>
    cluster.nodes
      .filter((n) => n.role === role)
      .map((n) => n.name)
      .join(', ') || 'none';
  const canary = cluster.canary
    ? `First ${cluster.canary.after === 'controller' ? 'the first controller' : 'one worker (the first whose drain no PodDisruptionBudget blocks)'} as a canary, then a hold of ` +
      `${humanDuration(cluster.canary.holdMs)} unless approved or rejected. `
    : '';
  const only = cluster.scope
    ? `Only the nodes named (${cluster.scope.named.join(', ')}); the others keep what they run. `
    : '';
  return run.result(
    'dry-run',
    `pre-flight ${found}. Nothing was touched. ${only}${canary}The controllers would go one at a time (${names('controlplane')}), ` +
      `then the workers, ${cluster.maxParallelWorkers} at a time (${names('worker')}).`,
  );
}

/**
 * The end of a run that did not succeed: its phase, the closing notification, and its result. A
 * cancelled run (or one rejected after its canary) ends normally with what was done; a failed one
 * fails, so the Web UI shows it red.
 */
async function reportEnd(
  run: ClusterRun,
  error: unknown,
  snapshot: string | undefined,
): Promise<ClusterUpgradeResult> {
  const cancelled = wasCancelled(error);
  const stopped = error instanceof RunStopped ? error : undefined;
  // An operator's reject after the canary: an answer, not a failure.
  const rejected = stopped?.outcome === 'rejected';
  const touched = run.progress.nodes.length > 0 || run.progress.inFlight.length > 0;
  const reason = cancelled
    ? touched
      ? 'cancelled: the node in flight was finished or rolled back; the rest was skipped'
      : 'cancelled before any node was touched'
    : (stopped?.reason ?? describeFailure(error));
  log.warn('cluster upgrade stopped', { reason, type: failureType(error) });
  const final = run.result(cancelled ? 'cancelled' : rejected ? 'rejected' : 'failed', reason, snapshot);
  await CancellationScope.nonCancellable(async () => {
    await Promise.all(run.background);
    run.phase(cancelled ? 'Cancelled' : rejected ? 'Rejected' : 'Failed');
    const upgraded = run.progress.nodes.filter((n) => n.outcome === 'upgraded').length;
    const failed = run.progress.nodes.filter(
      (n) => n.outcome !== 'upgraded' && n.outcome !== 'skipped',
    ).length;
    await run.notify({
      kind: 'complete',
      from: run.talos.from,
      to: run.talos.to,
      outcome: final.outcome === 'cancelled' || final.outcome === 'rejected' ? final.outcome : 'failed',
      durationMs: final.durationMs,
      upgraded,
      failed,
    });
  });
  if (cancelled || rejected) return final;
  throw ApplicationFailure.nonRetryable(
    `upgrade of ${run.request.cluster} to Talos ${run.talos.to} failed: ${reason}`,
    FAILURE.UpgradeFailed,
    final,
  );
}

/**
 * The run's end proven (verifyFinalState), read again twice 15 s apart before it counts: a node that
 * missed one read or an etcd member slow to answer once is no failure of a run that upgraded it all.
 */
async function finalStateProblems(
  run: ClusterRun,
  cluster: ClusterDescription,
  plan: UpgradePlan,
  waits: ReturnType<typeof heartbeating>['waits'],
): Promise<string[]> {
  const input = {
    cluster: run.request.cluster,
    nodes: cluster.nodes.map((n) => n.name),
    talos: run.talos.to,
    // The kubelet is compared only when the run upgraded Kubernetes.
    ...(plan.kubernetesSteps.length > 0 && plan.kubernetes ? { kubernetes: plan.kubernetes.to } : {}),
  };
  let problems: string[] = [];
  for (let read = 0; read < 3; read++) {
    if (read > 0) await sleep('15 seconds');
    problems = (await waits.verifyFinalState(input)).problems;
    if (problems.length === 0) break;
  }
  return problems;
}
