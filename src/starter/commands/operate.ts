import { userInfo } from 'node:os';
import {
  ApplicationFailure,
  WorkflowFailedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
} from '@temporalio/client';
import type { clusterUpgrade } from '../../workflows/clusterUpgrade.js';
import type { ClusterUpgradeResult } from '../../workflows/types.js';
import {
  approveUpdate,
  nodeProgressQuery,
  overrideWindowUpdate,
  pauseUpdate,
  rejectUpdate,
  resumeUpdate,
  undoUpdate,
  type RunState,
} from '../../workflows/signals.js';
import { EXIT, UserError } from '../cliErrors.js';
import { enqueueUpgrade, queueWorkflowId, runWorkflowId } from '../enqueue.js';
import { connectClient, type TemporalClient } from '../temporalClient.js';
import { resolveRun } from './target.js';
import { NODE_PHASE, parseVersion, queryValue, type Strategy } from '../../domain/index.js';
import { loadInventoryFile } from '../inventoryFile.js';

export interface OperateOptions {
  by?: string;
  comment?: string;
}

function operator(options: OperateOptions): string {
  try {
    return options.by ?? userInfo().username;
  } catch {
    return options.by ?? 'operator';
  }
}

export function webUiLink(settings: { namespace: string }, workflowId: string): string {
  const base = process.env.TALOS_UPGRADE_WEB_UI ?? 'http://127.0.0.1:8233';
  return `${base}/namespaces/${settings.namespace}/workflows/${encodeURIComponent(workflowId)}`;
}

const UPDATES = {
  approve: (o: OperateOptions) => ({
    update: approveUpdate,
    arg: { by: operator(o), ...(o.comment ? { comment: o.comment } : {}) },
  }),
  reject: (o: OperateOptions) => ({
    update: rejectUpdate,
    arg: { by: operator(o), ...(o.comment ? { reason: o.comment } : {}) },
  }),
  pause: (o: OperateOptions) => ({ update: pauseUpdate, arg: { by: operator(o) } }),
  resume: (o: OperateOptions) => ({ update: resumeUpdate, arg: { by: operator(o) } }),
  'override-window': (o: OperateOptions) => ({
    update: overrideWindowUpdate,
    arg: { by: operator(o), ...(o.comment ? { reason: o.comment } : {}) },
  }),
} as const;

const DONE_SAYING = {
  approve: 'approved: the run goes on',
  reject: 'rejected: the run ends with nothing touched',
  pause: 'paused: the run holds before its next node (the nodes in flight finish)',
  resume: 'resumed',
  'override-window': 'maintenance windows overridden for this run: its nodes start at once',
} as const;

/** The run's state after a command, in one line. */
function describeState(state: RunState): string {
  const approval = state.approval
    ? `, approval ${state.approval.state}${state.approval.by ? ` by ${state.approval.by}` : ''}`
    : '';
  const window = state.window
    ? `, window ${state.window.state}${state.window.until ? ` until ${state.window.until}` : ''}${state.window.by ? ` by ${state.window.by}` : ''}`
    : '';
  return `phase ${state.phase}${state.paused ? ', paused' : ''}${approval}${window}`;
}

/**
 * approve | reject | pause | resume | override-window: a Workflow Update the run validates — refused with its reason
 * (exit 1) or applied, printing the new state; cancel: a cancellation request.
 */
export async function operateCommand(
  action: keyof typeof UPDATES | 'cancel',
  target: string,
  options: OperateOptions,
): Promise<number> {
  const temporal = await connectClient();
  try {
    const workflowId = await resolveRun(temporal.client, target);
    const handle = temporal.client.workflow.getHandle(workflowId);
    try {
      if (action === 'cancel') {
        await handle.cancel();
        console.log(
          `${workflowId}: cancellation requested — the node in flight is finished or rolled back, the rest is skipped`,
        );
        return 0;
      }
      const { update, arg } = UPDATES[action](options);
      // The four definitions share one shape; the union of their types is not callable as one.
      const state = await handle.executeUpdate(update as typeof approveUpdate, { args: [arg] });
      console.log(`${workflowId}: ${DONE_SAYING[action]} (${describeState(state)})`);
      return 0;
    } catch (error) {
      if (error instanceof WorkflowNotFoundError)
        throw new UserError(`no running workflow ${workflowId} (it may have finished: talos-upgrade list)`);
      if (error instanceof WorkflowUpdateFailedError) {
        console.error(`${workflowId}: ${action} refused: ${error.cause?.message ?? error.message}`);
        return EXIT.failure;
      }
      throw error;
    }
  } finally {
    await temporal.close();
  }
}

/** Manual dispatch: the same queue a merged pull request feeds. */
export async function startCommand(options: {
  cluster: string;
  to: string;
  k8sTo?: string;
  strategy?: Strategy;
  by?: string;
  inventory?: string[];
  dryRun?: boolean;
}): Promise<number> {
  // Checked before anything is sent: a request the workflow would refuse never reaches the queue.
  const to = versionArg(options.to, '--to');
  const k8sTo = options.k8sTo ? versionArg(options.k8sTo, '--k8s-to') : undefined;
  const files = options.inventory ?? process.env.TALOS_UPGRADE_INVENTORY?.split(',').filter(Boolean) ?? [];
  if (files.length > 0) {
    const clusters = await Promise.all(
      files.map(async (file) => (await loadInventoryFile(file)).cluster.name),
    );
    if (!clusters.includes(options.cluster))
      throw new UserError(
        `cluster ${options.cluster} is in none of the inventories (${files.join(', ')} name ${clusters.join(', ')}): nothing was sent`,
      );
  }
  const temporal = await connectClient();
  try {
    if (options.dryRun) return await dryRunUpgrade(temporal, { ...options, to, ...(k8sTo ? { k8sTo } : {}) });
    const requestId = `manual-${Date.now().toString(36)}`;
    const ids = await enqueueUpgrade(temporal.client, temporal.settings.taskQueue, {
      requestId,
      cluster: options.cluster,
      talos: { to },
      ...(k8sTo ? { kubernetes: { to: k8sTo } } : {}),
      ...(options.strategy ? { strategy: options.strategy } : {}),
      source: `manual dispatch by ${operator(options)}`,
    });
    console.log(`enqueued on ${ids.queueId}: ${ids.runId}`);
    console.log(`follow it: talos-upgrade status ${ids.runId} --watch`);
    console.log(`Web UI:    ${webUiLink(temporal.settings, ids.runId)}`);
    return 0;
  } finally {
    await temporal.close();
  }
}

/**
 * `start --dry-run`: a run of its own (not queued behind others: it changes nothing) that plans and
 * runs pre-flight; printed when it ends. Exit 0 when pre-flight passed, 1 when it refused.
 */
async function dryRunUpgrade(
  temporal: TemporalClient,
  options: { cluster: string; to: string; k8sTo?: string; strategy?: Strategy; by?: string },
): Promise<number> {
  const requestId = `dry-run-${Date.now().toString(36)}`;
  const workflowId = runWorkflowId(options.cluster, requestId);
  const handle = await temporal.client.workflow.start<typeof clusterUpgrade>('clusterUpgrade', {
    taskQueue: temporal.settings.taskQueue,
    workflowId,
    args: [
      {
        requestId,
        cluster: options.cluster,
        talos: { to: options.to },
        ...(options.k8sTo ? { kubernetes: { to: options.k8sTo } } : {}),
        ...(options.strategy ? { strategy: options.strategy } : {}),
        source: `dry run by ${operator(options)}`,
        dryRun: true,
      },
    ],
    searchAttributes: { TalosCluster: [options.cluster] },
  });
  console.error(
    `dry run ${workflowId}: planning and pre-flight against the live cluster; nothing is touched`,
  );
  console.error(`Web UI: ${webUiLink(temporal.settings, workflowId)}`);
  let result: ClusterUpgradeResult;
  try {
    result = await handle.result();
  } catch (error) {
    const failure = error instanceof WorkflowFailedError ? error.cause : error;
    const ended =
      failure instanceof ApplicationFailure
        ? (failure.details?.[0] as ClusterUpgradeResult | undefined)
        : undefined;
    printHops(ended);
    console.log(`❌ ${failure instanceof Error ? failure.message : String(failure)}`);
    return EXIT.failure;
  }
  printHops(result);
  console.log(`${result.outcome === 'dry-run' ? '✅' : 'ℹ'} ${result.outcome}: ${result.reason ?? ''}`);
  if (result.planNote) console.log(`note: ${result.planNote}`);
  return result.outcome === 'dry-run' || result.outcome === 'nothing-to-do' ? EXIT.ok : EXIT.failure;
}

function printHops(result: ClusterUpgradeResult | undefined): void {
  if (!result?.hops.length) return;
  console.log(`Plan for ${result.cluster}: Talos ${result.talos.from} -> ${result.talos.to}`);
  result.hops.forEach((hop, i) =>
    console.log(
      `  ${i + 1}. Talos ${hop.from} -> ${hop.to}  ${hop.strategy}${hop.reason ? `  (${hop.reason})` : ''}`,
    ),
  );
}

/** A version argument, or a UserError (exit 2) that says what was expected. */
function versionArg(value: string, flag: string): string {
  try {
    return parseVersion(value, flag);
  } catch (error) {
    throw new UserError(error instanceof Error ? `${error.message}; nothing was sent` : String(error));
  }
}

/**
 * The node runs whose undo waits for an operator: the one named (checked), or those of a cluster, of
 * its queue (`talos-upgrade-queue:<cluster>`) or of one cluster run.
 */
async function stuckNodeRuns(client: Client, target: string): Promise<string[]> {
  if (target.includes(':node:')) {
    const progress = await client.workflow
      .getHandle(target)
      .query(nodeProgressQuery)
      .catch((error: unknown) => {
        throw new UserError(
          `cannot ask ${target} where it is (${error instanceof Error ? error.message : String(error)})`,
        );
      });
    if (!progress.stuck) throw new UserError(`${target} waits on no stuck undo (its step: ${progress.step})`);
    return [target];
  }
  const queuePrefix = queueWorkflowId('');
  const ofQueue = target.startsWith(queuePrefix);
  const cluster = ofQueue
    ? target.slice(queuePrefix.length)
    : target.includes(':')
      ? (target.split(':')[1] ?? '')
      : target;
  const runPrefix = target.includes(':') && !ofQueue ? `${target}:node:` : '';
  const stuck: string[] = [];
  for await (const run of client.workflow.list({
    query: `WorkflowType = 'nodeUpgrade' AND TalosCluster = ${queryValue(cluster)} AND UpgradePhase = ${queryValue(NODE_PHASE.CompensationStuck)} AND ExecutionStatus = 'Running'`,
  }))
    if (run.workflowId.startsWith(runPrefix)) stuck.push(run.workflowId);
  return stuck;
}

/** undo retry|abandon: the answer to a node whose undo is stuck (phase CompensationStuck). */
export async function undoCommand(
  action: 'retry' | 'abandon',
  target: string,
  options: OperateOptions,
): Promise<number> {
  if (action === 'abandon' && !options.comment?.trim())
    throw new UserError('abandoning an undo needs its reason: --comment "why the node is left as it is"');
  const temporal = await connectClient();
  try {
    const stuck = await stuckNodeRuns(temporal.client, target);
    if (stuck.length === 0) throw new UserError(`no node of ${target} waits on a stuck undo`);
    if (stuck.length > 1)
      throw new UserError(`several nodes wait on a stuck undo; name one:\n  ${stuck.join('\n  ')}`);
    const workflowId = stuck[0] ?? '';
    try {
      await temporal.client.workflow.getHandle(workflowId).executeUpdate(undoUpdate, {
        args: [{ action, by: operator(options), ...(options.comment ? { reason: options.comment } : {}) }],
      });
    } catch (error) {
      if (!(error instanceof WorkflowUpdateFailedError)) throw error;
      console.error(`${workflowId}: undo ${action} refused: ${error.cause?.message ?? error.message}`);
      return EXIT.failure;
    }
    console.log(
      `${workflowId}: ${action === 'retry' ? 'the stuck undo runs again' : 'the stuck undo is abandoned; the node is reported ROLLBACK FAILED'}`,
    );
    return 0;
  } finally {
    await temporal.close();
  }
}
