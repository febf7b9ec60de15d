import { hostname, userInfo } from 'node:os';
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
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
import { queueWorkflowId } from '../enqueue.js';
import { connectClient } from '../temporalClient.js';
import { resolveRun } from './target.js';
import { NODE_PHASE, queryValue } from '../../domain/index.js';
import { answeredBy } from '../../workflows/runDetails.js';

export interface OperateOptions {
  by?: string;
  /** The Temporal client's identity, what policy.approval.approvers is checked against. */
  identity?: string;
  comment?: string;
}

export function operator(options: OperateOptions): string {
  try {
    return options.by ?? userInfo().username;
  } catch {
    return options.by ?? 'operator';
  }
}

/** `--identity`, else `<user>@<host>`: who the history and policy.approval.approvers see. */
export function operatorIdentity(options: OperateOptions): string {
  if (options.identity) return options.identity;
  try {
    return `${userInfo().username}@${hostname()}`;
  } catch {
    return `operator@${hostname()}`;
  }
}

export function webUiLink(settings: { namespace: string }, workflowId: string): string {
  const base = process.env.TALOS_UPGRADE_WEB_UI ?? 'http://127.0.0.1:8233';
  return `${base}/namespaces/${settings.namespace}/workflows/${encodeURIComponent(workflowId)}`;
}

const UPDATES = {
  approve: (o: OperateOptions) => ({
    update: approveUpdate,
    arg: { by: operator(o), identity: operatorIdentity(o), ...(o.comment ? { comment: o.comment } : {}) },
  }),
  reject: (o: OperateOptions) => ({
    update: rejectUpdate,
    arg: { by: operator(o), identity: operatorIdentity(o), ...(o.comment ? { reason: o.comment } : {}) },
  }),
  pause: (o: OperateOptions) => ({ update: pauseUpdate, arg: { by: operator(o) } }),
  resume: (o: OperateOptions) => ({ update: resumeUpdate, arg: { by: operator(o) } }),
  'override-window': (o: OperateOptions) => ({
    update: overrideWindowUpdate,
    arg: { by: operator(o), identity: operatorIdentity(o), ...(o.comment ? { reason: o.comment } : {}) },
  }),
} as const;

const DONE_SAYING = {
  approve: 'approved: the run goes on',
  reject: 'rejected: the run ends with nothing touched',
  pause: 'paused: the run holds before its next node (the nodes in flight finish)',
  resume: 'resumed',
  'override-window': 'maintenance windows overridden for this run: its nodes start at once',
} as const;

/** What approve and reject did, said of the canary when they answered it (policy.canary). */
function answerSaying(action: 'approve' | 'reject', state: RunState): string {
  const canary = state.canary;
  if (!canary || (canary.state !== 'upgrading' && canary.state !== 'holding')) return DONE_SAYING[action];
  const when = canary.state === 'upgrading' ? `once the canary ${canary.node} is upgraded` : 'now';
  return action === 'approve'
    ? `approved: the run goes on past the canary ${canary.node} ${when}, without waiting out its hold`
    : `rejected: the run stops ${when}; the canary ${canary.node} stays upgraded, no other node is touched`;
}

/** The run's state after a command, in one line. */
function describeState(state: RunState): string {
  const approval = state.approval
    ? `, approval ${state.approval.state}${state.approval.by ? ` by ${answeredBy(state.approval)}` : ''}`
    : '';
  const window = state.window
    ? `, window ${state.window.state}${state.window.until ? ` until ${state.window.until}` : ''}${state.window.by ? ` by ${answeredBy(state.window)}` : ''}`
    : '';
  const canary = state.canary
    ? `, canary ${state.canary.node} ${state.canary.state}${state.canary.by ? ` by ${answeredBy(state.canary)}` : ''}`
    : '';
  return `phase ${state.phase}${state.paused ? ', paused' : ''}${approval}${window}${canary}`;
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
  const temporal = await connectClient(process.env, operatorIdentity(options));
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
      const saying =
        action === 'approve' || action === 'reject' ? answerSaying(action, state) : DONE_SAYING[action];
      console.log(`${workflowId}: ${saying} (${describeState(state)})`);
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
