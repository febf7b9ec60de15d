import {
  CancellationScope,
  ChildWorkflowCancellationType,
  condition,
  executeChild,
  log,
  ParentClosePolicy,
  workflowInfo,
} from '@temporalio/workflow';
import type { ClusterDescription } from '../activities/cluster.js';
import {
  atOrPast,
  deferBlockedFromFirstRound,
  firstRoundCandidates,
  PENDING_TAINT,
  type Strategy,
} from '../domain/index.js';
import { hints, quick, type mutating } from './activityOptions.js';
import { RunStopped, type ClusterRun } from './clusterRun.js';
import { describeFailure, wasCancelled } from './failures.js';
import { trialOnCanary } from './canary.js';
import { awaitMaintenanceWindow } from './maintenanceWindow.js';
import { recordNodeUpgrade } from './metrics.js';
import { nodeUpgrade, nodeWorkflowTaskTimeoutMs } from './node/nodeUpgrade.js';

/**
 * How the rolling window may reorder what is left before a lane takes its next item: every time a lane
 * is free once an item has finished, the next `width` items (one read at a time, so two lanes freed
 * together do not both take the old order's head).
 */
type Reorder<T> = (next: T[]) => Promise<T[]>;

/**
 * Runs at most `width` items at a time and starts the next as soon as one finishes, so one slow node
 * (a PDB waiting out its drain timeout) no longer holds back the rest of its batch. After a failure
 * it starts nothing new, lets the nodes in flight finish (or roll back), then throws the first failure.
 * Items that `oneAtATime` names never run two at once: a free lane passes over them while one is in
 * flight and takes the next other item, and waits only when nothing else is left.
 */
async function rollingWindow<T>(
  items: T[],
  width: number,
  run: (item: T, stopped: () => boolean) => Promise<void>,
  options: { reorder?: Reorder<T>; oneAtATime?: (item: T) => boolean } = {},
): Promise<void> {
  const { reorder, oneAtATime = () => false } = options;
  let queue = [...items];
  let failure: { error: unknown } | undefined;
  let picking: Promise<T | undefined> = Promise.resolve(undefined);
  let finished = 0;
  let exclusiveInFlight = false;
  const stopped = () => failure !== undefined;
  const reorderHead = async (order: Reorder<T>) => {
    queue = [...(await order(queue.slice(0, width))), ...queue.slice(width)];
  };
  // Synchronous, so two lanes never take the same item or two exclusive ones.
  const take = (): T | undefined => {
    const at = queue.findIndex((item) => !(exclusiveInFlight && oneAtATime(item)));
    if (at < 0) return undefined;
    const [item] = queue.splice(at, 1) as [T];
    if (oneAtATime(item)) exclusiveInFlight = true;
    return item;
  };
  const pick = async (): Promise<T | undefined> => {
    if (reorder && finished > 0 && queue.length > 0) {
      const picked = picking.then(async () => {
        if (!failure) await reorderHead(reorder);
        return take();
      });
      picking = picked.catch(() => undefined);
      return picked;
    }
    return take();
  };
  const next = async (): Promise<T | undefined> => {
    for (;;) {
      const item = await pick();
      if (item !== undefined || queue.length === 0 || failure) return item;
      // Only exclusive items are left and one is in flight: wait for it, then pick again.
      await condition(() => !exclusiveInFlight || failure !== undefined);
    }
  };
  const lane = async () => {
    while (!failure) {
      let item: T | undefined;
      try {
        item = await next();
      } catch (error) {
        // A cancel during the read: start nothing more, and let the other lanes' nodes finish or roll back.
        failure ??= { error };
        return;
      }
      if (item === undefined || failure) {
        if (item !== undefined && oneAtATime(item)) exclusiveInFlight = false;
        return;
      }
      try {
        await run(item, stopped);
        finished += 1;
      } catch (error) {
        failure ??= { error };
      } finally {
        if (oneAtATime(item)) exclusiveInFlight = false;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, lane));
  if (failure) throw failure.error;
}

/** A hint that fails is logged and the run goes on with `fallback`; a cancel of the run still ends it. */
async function hint<T>(call: Promise<T>, fallback: T, warning: string): Promise<T> {
  return call.catch((error: unknown) => {
    if (wasCancelled(error)) throw error;
    log.warn(warning, { error: describeFailure(error) });
    return fallback;
  });
}

/** The nodes a PDB blocks first, the rest as they were; unchanged if the read fails. */
async function blockedFirst<N extends { name: string }>(cluster: string, left: N[]): Promise<N[]> {
  if (left.length < 2) return left;
  const blocked = await hint(
    hints.drainBlockedNodes({ cluster, nodes: left.map((n) => n.name) }),
    [],
    'could not read which drains a PodDisruptionBudget blocks; the next nodes keep their order',
  );
  return [...left.filter((n) => blocked.includes(n.name)), ...left.filter((n) => !blocked.includes(n.name))];
}

/** The workers in the order their first round should take them; unchanged if the read fails. */
async function firstRoundOrder<N extends { name: string }>(
  cluster: string,
  workers: N[],
  width: number,
  storage: readonly string[] = [],
): Promise<N[]> {
  const blocked = await hint(
    hints.drainBlockedNodes({ cluster, nodes: firstRoundCandidates(workers, width).map((n) => n.name) }),
    [],
    'could not read which drains a PodDisruptionBudget blocks; the first round keeps the inventory order',
  );
  return deferBlockedFromFirstRound(workers, blocked, width, storage);
}

/**
 * The workers that carry Ceph OSDs, which lanes side by side never take two at once: Ceph keeps a
 * pool's copies on different hosts, and with two hosts down a size-3 pool's placement groups fall
 * below min_size and stop taking writes (a rebuilt VM may even take its OSD's disk with it). Each such
 * node's health gate then waits for Ceph to recover from the last one. Read once per hop, and only
 * with lanes side by side; a failed read keeps the lanes as they were.
 */
async function storageNodes(cluster: string, width: number): Promise<string[]> {
  if (width < 2) return [];
  return hint(
    quick.storageNodes({ cluster }),
    [],
    'could not read which nodes carry Ceph OSDs; the lanes may take two of them at once',
  );
}

/**
 * A hop marks the nodes not yet at its version (a PreferNoSchedule taint) when its first node starts,
 * and takes the marks off when it ends, whatever the outcome (each node's uncordon takes its own off):
 * the pods its drains move land on nodes already upgraded where they fit. A hint like the PDB read: a failure leaves the nodes unmarked. Not cancellable: a cancel waits the
 * moment it takes, so the unmarking that follows cannot overtake a mark still being patched.
 */
async function markPending(cluster: string, nodes: string[], version: string): Promise<void> {
  await CancellationScope.nonCancellable(() =>
    hint(
      hints.markNodesPending({ cluster, nodes, version }),
      undefined,
      'could not mark the nodes still to upgrade; moved pods may land on any node',
    ),
  );
}

/** Runs even when the run is cancelled; a failure leaves a soft taint behind, named in the log. */
async function unmarkPending(cluster: string, nodes: string[]): Promise<void> {
  await CancellationScope.nonCancellable(() =>
    hint(
      hints.unmarkNodesPending({ cluster, nodes }),
      undefined,
      `could not take the pending mark off the nodes; remove it with: kubectl taint nodes --all ${PENDING_TAINT.key}-`,
    ),
  );
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
  /** The steps that change the world, with the cluster's heartbeat timeout. */
  act: typeof mutating,
): Promise<void> {
  const { request, progress } = run;
  progress.hop = `${hop.from}->${hop.to}`;
  if (hop.strategy === 'cattle') {
    // Templates are the hop's first change to the world: inside a window, like the nodes.
    await awaitMaintenanceWindow(run, cluster);
    run.phase('RebuildingTemplates');
    await act.rebuildTemplates({ cluster: request.cluster, version: hop.to });
  }
  const names = cluster.nodes.map((n) => n.name);
  let marked: Promise<void> | undefined;
  /**
   * Paused or outside a window: waits until neither holds (a pause may outlast the window it waited
   * for). Without windows this is the single pause wait it always was.
   */
  const untilNodesMayStart = async (stopped: () => boolean = () => false) => {
    do {
      await condition(() => !progress.paused);
      await awaitMaintenanceWindow(run, cluster, stopped);
    } while (progress.paused);
  };
  const runNode = async (
    node: { name: string; role: 'controlplane' | 'worker' },
    stopped: () => boolean = () => false,
  ) => {
    await untilNodesMayStart(stopped);
    // A lane that waited for a window while another lane's node failed starts nothing more.
    if (cluster.maintenanceWindows?.length && stopped()) return;
    // Once, when the first node starts (inside its window): every lane waits for the same marking.
    await (marked ??= markPending(request.cluster, names, hop.to));
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
      // It goes out even when the run is being cancelled: an operator must hear of a failed undo.
      await CancellationScope.nonCancellable(notice);
      throw new RunStopped('failed', detail);
    } finally {
      progress.current = progress.current.filter((n) => n !== node.name);
      progress.inFlight = progress.inFlight.filter((f) => f.node !== node.name);
      run.details();
    }
  };
  try {
    // The trial (policy.canary), in the run's first hop only: one node before any other (a worker,
    // the first whose drain no PodDisruptionBudget blocks; or the first controller), then the hold.
    let canary: string | undefined;
    const allWorkers = cluster.nodes.filter((n) => n.role === 'worker');
    const controllers = cluster.nodes.filter((n) => n.role === 'controlplane');
    const trialOf = cluster.canary?.after === 'controller' ? controllers : allWorkers;
    if (cluster.canary && !progress.canary && trialOf.length > 0) {
      await untilNodesMayStart();
      // A node already at the hop's version (an earlier run's canary, rejected after it) would try
      // nothing: the canary is one still to upgrade.
      const running = await hint(
        quick.getTalosVersions({ cluster: request.cluster }),
        {},
        'could not read what the nodes run; the canary is chosen among all of them',
      );
      const toTry = trialOf.filter((n) => !atOrPast(running[n.name], hop.to));
      const [first] =
        trialOf === allWorkers ? await firstRoundOrder(request.cluster, toTry, 1) : toTry.slice(0, 1);
      if (first) {
        const others = names.filter((name) => name !== first.name);
        await trialOnCanary(run, cluster, first.name, hop.to, {
          upgrade: () => runNode(first),
          unmarkOthers: () => unmarkPending(request.cluster, others),
          markOthers: () => markPending(request.cluster, others, hop.to),
        });
        canary = first.name;
      }
    }
    run.phase('UpgradingControlPlane');
    for (const node of controllers.filter((n) => n.name !== canary)) await runNode(node);
    run.phase('UpgradingWorkers');
    const inventoryOrder = allWorkers.filter((n) => n.name !== canary);
    const width = cluster.maxParallelWorkers;
    let workers = inventoryOrder;
    let storage: string[] = [];
    if (width > 1 && inventoryOrder.length > 1) {
      // Read when the first worker may start: a read from before a pause or a closed window is stale.
      await untilNodesMayStart();
      storage = await storageNodes(request.cluster, width);
    }
    if (firstRoundCandidates(inventoryOrder, width).length > 0) {
      // The first round leaves out a worker whose drain a PodDisruptionBudget blocks and starts it right
      // after: forced out before any worker was upgraded, its pod would land on another worker still to
      // upgrade and block that drain too. It takes one OSD host at most.
      await untilNodesMayStart();
      workers = await firstRoundOrder(request.cluster, inventoryOrder, width, storage);
    }
    const order = (left: typeof workers) => blockedFirst(request.cluster, left);
    const parallel = workers.length > cluster.maxParallelWorkers && cluster.maxParallelWorkers > 1;
    // Once a worker is upgraded, every free lane takes a blocked node of the next few first: the pod a
    // forced drain moves lands on the upgraded worker (the rest are marked pending) and blocks no other
    // drain, and the long drains go to the lanes free first, so the lanes end together.
    await rollingWindow(workers, width, runNode, {
      reorder: parallel ? order : undefined,
      oneAtATime: (node) => storage.includes(node.name),
    });
  } finally {
    // Only once a marking was asked for: a hop that started no node (a window, a cancel) marked nothing.
    if (marked) await unmarkPending(request.cluster, names);
  }
}
