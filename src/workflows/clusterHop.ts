import {
  CancellationScope,
  ChildWorkflowCancellationType,
  condition,
  executeChild,
  log,
  ParentClosePolicy,
  patched,
  workflowInfo,
} from '@temporalio/workflow';
import type { ClusterDescription } from '../activities/cluster.js';
import type { Strategy } from '../domain/index.js';
import { hints, type long } from './activityOptions.js';
import { RunStopped, type ClusterRun } from './clusterRun.js';
import { describeFailure, wasCancelled } from './failures.js';
import { awaitMaintenanceWindow } from './maintenanceWindow.js';
import { recordNodeUpgrade } from './metrics.js';
import { nodeUpgrade, nodeWorkflowTaskTimeoutMs } from './nodeUpgrade.js';

/**
 * Runs at most `width` items at a time and starts the next as soon as one finishes, so one slow node
 * (a PDB waiting out its drain timeout) no longer holds back the rest of its batch. After a failure
 * it starts nothing new, lets the nodes in flight finish (or roll back), then throws the first failure.
 * When what is left fits in the lanes (the final round), `finalRound` may reorder it once, before any
 * of it starts: the longest first, so the lanes end together.
 */
async function rollingWindow<T>(
  items: T[],
  width: number,
  run: (item: T, stopped: () => boolean) => Promise<void>,
  finalRound?: (left: T[]) => Promise<T[]>,
): Promise<void> {
  let queue = [...items];
  let failure: { error: unknown } | undefined;
  let reordering: Promise<void> | undefined;
  const stopped = () => failure !== undefined;
  const lane = async () => {
    while (!failure) {
      // Every lane waits for the one reorder: a lane freed meanwhile must not take the old order's head.
      if (finalRound && queue.length > 0 && queue.length <= width) {
        try {
          await (reordering ??= finalRound(queue).then((order) => void (queue = order)));
        } catch (error) {
          // A cancel during the read: start nothing more, and let the other lanes' nodes finish or roll back.
          failure ??= { error };
          return;
        }
      }
      const item = queue.shift();
      if (item === undefined || failure) return;
      try {
        await run(item, stopped);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, lane));
  if (failure) throw failure.error;
}

/**
 * Since this patch the workers' final round starts with the nodes whose drain a PodDisruptionBudget
 * blocks (they take the drain timeout longer): in inventory order such a node could start last and
 * leave the other lanes idle for that long (bench/RESULTS.md, schedule). Only the final round: started
 * earlier, its forced pod would land on a node not yet upgraded and block that drain too.
 */
const FINAL_ROUND_BLOCKED_FIRST = 'final-round-blocked-first';

/**
 * The final round's order: the nodes a PDB blocks first, the rest as they were; unchanged if the read
 * fails (a cancel of the run still ends it).
 */
async function blockedFirst<N extends { name: string }>(cluster: string, left: N[]): Promise<N[]> {
  if (left.length < 2) return left;
  const blocked = await hints
    .drainBlockedNodes({ cluster, nodes: left.map((n) => n.name) })
    .catch((error: unknown) => {
      if (wasCancelled(error)) throw error;
      log.warn('could not read which drains a PodDisruptionBudget blocks; the final round keeps its order', {
        error: describeFailure(error),
      });
      return [] as string[];
    });
  return [...left.filter((n) => blocked.includes(n.name)), ...left.filter((n) => !blocked.includes(n.name))];
}

export interface TalosHop {
  from: string;
  to: string;
  strategy: Strategy;
}

/**
 * One Talos hop over the whole cluster: templates for cattle, the control plane one node at a time,
 * then the workers in a rolling window. Each node is a
 * child workflow: a node that fails has rolled itself back, and the hop stops with RunStopped.
 */
export async function runHop(
  run: ClusterRun,
  cluster: ClusterDescription,
  hop: TalosHop,
  /** The settled-cancel patch, and with it the options of steps that change the world. */
  { settled, act }: { settled: boolean; act: typeof long },
): Promise<void> {
  const { request, progress } = run;
  progress.hop = `${hop.from}->${hop.to}`;
  if (hop.strategy === 'cattle') {
    // Templates are the hop's first change to the world: inside a window, like the nodes.
    await awaitMaintenanceWindow(run, cluster);
    run.phase('RebuildingTemplates');
    await act.rebuildTemplates({ cluster: request.cluster, version: hop.to });
  }
  const runNode = async (
    node: { name: string; role: 'controlplane' | 'worker' },
    stopped: () => boolean = () => false,
  ) => {
    // Paused or outside a window: wait until neither holds (a pause may outlast the window it waited for).
    // Without windows this is the single pause wait it always was.
    do {
      await condition(() => !progress.paused);
      await awaitMaintenanceWindow(run, cluster, stopped);
    } while (progress.paused);
    // A lane that waited for a window while another lane's node failed starts nothing more.
    if (cluster.maintenanceWindows?.length && stopped()) return;
    progress.current.push(node.name);
    const childId = `${workflowInfo().workflowId}:node:${node.name}:${hop.to}`;
    progress.inFlight.push({ node: node.name, workflowId: childId });
    run.details();
    const nodeStarted = Date.now();
    try {
      const outcome = await executeChild(nodeUpgrade, {
        workflowId: childId,
        cancellationType: ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
        // A terminated or timed-out cluster run asks its nodes to cancel, so each runs its undo
        // instead of being killed mid-saga (a VM destroyed and not recreated, a node left cordoned).
        parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
        workflowTaskTimeout: nodeWorkflowTaskTimeoutMs(cluster.timing.heartbeatTimeoutMs),
        staticSummary: `${node.name} (${node.role}): Talos ${hop.from} → ${hop.to} as ${hop.strategy}`,
        staticDetails: [
          `**Cluster** ${request.cluster} · **node** ${node.name} · **role** ${node.role}`,
          `**Hop** ${hop.from} → ${hop.to} · **strategy** ${hop.strategy} (${hop.strategy === 'pets' ? 'talosctl upgrade in place' : 'VM destroyed and recreated by Terraform'})`,
          `**Cluster run** ${workflowInfo().workflowId}`,
        ].join('\n\n'),
        args: [
          {
            cluster: request.cluster,
            node: node.name,
            role: node.role,
            strategy: hop.strategy,
            from: hop.from,
            to: hop.to,
            timing: cluster.timing,
            drainForce: cluster.drainForce,
            installBeforeDrain: cluster.installBeforeDrain,
          },
        ],
      });
      progress.nodes.push(outcome);
      recordNodeUpgrade(
        { cluster: request.cluster, strategy: hop.strategy, role: node.role, outcome: outcome.outcome },
        outcome.durationMs,
      );
      const sent = run.notify({
        kind: 'node',
        node: node.name,
        outcome: outcome.outcome === 'skipped' ? 'skipped' : 'upgraded',
        durationMs: outcome.durationMs,
      });
      run.background.push(sent);
    } catch (error) {
      const cancelled = wasCancelled(error);
      const detail = describeFailure(error);
      const rollbackFailed = detail.includes('ROLLBACK FAILED');
      progress.nodes.push({
        node: node.name,
        hop: `${hop.from}->${hop.to}`,
        strategy: hop.strategy,
        outcome: cancelled ? 'rolled-back' : rollbackFailed ? 'rollback-failed' : 'rolled-back',
        durationMs: Date.now() - nodeStarted,
        error: cancelled ? 'cancelled' : detail,
      });
      recordNodeUpgrade(
        {
          cluster: request.cluster,
          strategy: hop.strategy,
          role: node.role,
          outcome: cancelled ? 'cancelled' : rollbackFailed ? 'rollback-failed' : 'rolled-back',
        },
        Date.now() - nodeStarted,
      );
      if (cancelled) throw error;
      const notice = () =>
        run.notify(
          rollbackFailed
            ? { kind: 'critical', message: detail }
            : { kind: 'rollback', node: node.name, reason: detail },
        );
      // Since settled-cancel it goes out even when the run is being cancelled: an operator must hear
      // of a failed undo (before, a cancelled run scheduled no such activity, and replays that way).
      await (settled ? CancellationScope.nonCancellable(notice) : notice());
      throw new RunStopped('failed', detail);
    } finally {
      progress.current = progress.current.filter((n) => n !== node.name);
      progress.inFlight = progress.inFlight.filter((f) => f.node !== node.name);
      run.details();
    }
  };
  run.phase('UpgradingControlPlane');
  for (const node of cluster.nodes.filter((n) => n.role === 'controlplane')) await runNode(node);
  run.phase('UpgradingWorkers');
  const workers = cluster.nodes.filter((n) => n.role === 'worker');
  const reorder =
    workers.length > cluster.maxParallelWorkers &&
    cluster.maxParallelWorkers > 1 &&
    patched(FINAL_ROUND_BLOCKED_FIRST)
      ? (left: typeof workers) => blockedFirst(request.cluster, left)
      : undefined;
  await rollingWindow(workers, cluster.maxParallelWorkers, runNode, reorder);
}
