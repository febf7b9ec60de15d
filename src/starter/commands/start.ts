import { ApplicationFailure, WorkflowFailedError } from '@temporalio/client';
import { parseVersion, type Strategy } from '../../domain/index.js';
import type { clusterUpgrade } from '../../workflows/clusterUpgrade.js';
import type { mergeDryRun } from '../../workflows/mergeDryRun.js';
import type { ClusterUpgradeResult } from '../../workflows/types.js';
import { EXIT, UserError } from '../cliErrors.js';
import { enqueueUpgrade, runWorkflowId } from '../enqueue.js';
import { loadInventoryFile } from '../inventoryFile.js';
import { connectClient, type TemporalClient } from '../temporalClient.js';
import { operator, webUiLink } from './operate.js';

// `talos-upgrade start`: a run by hand (the queue a merge feeds), a dry run of one, or of a merge.

/** `--nodes a,b`: the names, each once; refused with a Kubernetes target (upgrade-k8s moves every node). */
function nodesArg(list: string, k8sTo: string | undefined): string[] {
  const names = list
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean);
  if (names.length === 0) throw new UserError('--nodes names no node: give Node names, comma-separated');
  const twice = names.filter((name, i) => names.indexOf(name) !== i);
  if (twice.length > 0) throw new UserError(`--nodes names ${[...new Set(twice)].join(', ')} twice`);
  if (k8sTo)
    throw new UserError(
      '--nodes with --k8s-to: a Kubernetes upgrade moves every node; upgrade Talos on the nodes first, then Kubernetes without --nodes',
    );
  return names;
}

/**
 * The inventory that names the cluster, when the worker's inventories are given (--inventory, or
 * TALOS_UPGRADE_INVENTORY); a UserError when none does; undefined when none is given.
 */
async function inventoryNaming(cluster: string, given: string[] | undefined) {
  const files = given ?? process.env.TALOS_UPGRADE_INVENTORY?.split(',').filter(Boolean) ?? [];
  if (files.length === 0) return undefined;
  const inventories = await Promise.all(files.map((file) => loadInventoryFile(file)));
  const found = inventories.find((i) => i.cluster.name === cluster);
  if (!found)
    throw new UserError(
      `cluster ${cluster} is in none of the inventories (${files.join(', ')} name ${inventories.map((i) => i.cluster.name).join(', ')}): nothing was sent`,
    );
  return found;
}

/** Manual dispatch: the same queue a merged pull request feeds. */
export async function startCommand(options: {
  cluster: string;
  to?: string;
  k8sTo?: string;
  strategy?: Strategy;
  by?: string;
  inventory?: string[];
  dryRun?: boolean;
  /** Only these nodes (comma-separated Node names). */
  nodes?: string;
  /** A dry run of what this commit (a merge, or a pull request's head) would do. */
  merge?: string;
}): Promise<number> {
  if (options.merge !== undefined) return dryRunMergeCommand({ ...options, merge: options.merge });
  if (options.to === undefined)
    throw new UserError('start needs --to <version> (or --merge <commit> --dry-run): nothing was sent');
  // Checked before anything is sent: a request the workflow would refuse never reaches the queue.
  const to = versionArg(options.to, '--to');
  const k8sTo = options.k8sTo ? versionArg(options.k8sTo, '--k8s-to') : undefined;
  const nodes = options.nodes === undefined ? undefined : nodesArg(options.nodes, k8sTo);
  const found = await inventoryNaming(options.cluster, options.inventory);
  const unknown = found ? (nodes ?? []).filter((name) => !found.nodes.some((n) => n.name === name)) : [];
  if (found && unknown.length > 0)
    throw new UserError(
      `--nodes: ${unknown.join(', ')} not in the inventory of ${options.cluster} (its nodes: ${found.nodes.map((n) => n.name).join(', ')}): nothing was sent`,
    );
  const temporal = await connectClient();
  try {
    if (options.dryRun)
      return await dryRunUpgrade(temporal, {
        cluster: options.cluster,
        ...(options.strategy ? { strategy: options.strategy } : {}),
        ...(options.by ? { by: options.by } : {}),
        to,
        ...(k8sTo ? { k8sTo } : {}),
        ...(nodes ? { nodes } : {}),
      });
    const requestId = `manual-${Date.now().toString(36)}`;
    const ids = await enqueueUpgrade(temporal.client, temporal.settings.taskQueue, {
      requestId,
      cluster: options.cluster,
      talos: { to },
      ...(k8sTo ? { kubernetes: { to: k8sTo } } : {}),
      ...(options.strategy ? { strategy: options.strategy } : {}),
      ...(nodes ? { nodes } : {}),
      source: `manual dispatch by ${operator(options)}${nodes ? ` (only ${nodes.join(', ')})` : ''}`,
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
 * `start --merge <commit> --dry-run`: what that merge would do, read by the worker from the cluster's
 * repository as the queue reads a merge; the same plan, pre-flight and answer as a dry run.
 */
async function dryRunMergeCommand(options: {
  cluster: string;
  merge: string;
  inventory?: string[];
  to?: string;
  k8sTo?: string;
  strategy?: Strategy;
  nodes?: string;
  dryRun?: boolean;
  by?: string;
}): Promise<number> {
  if (!options.dryRun)
    throw new UserError(
      '--merge is for a dry run (add --dry-run): a merge becomes a run when it lands on the default branch (webhook or polling); to upgrade by hand, use --to',
    );
  const clash = (['to', 'k8sTo', 'strategy', 'nodes'] as const).filter((o) => options[o] !== undefined);
  if (clash.length > 0)
    throw new UserError(
      `--merge takes its versions from the commit and its strategy from the policy: drop ${clash.map((o) => `--${o === 'k8sTo' ? 'k8s-to' : o}`).join(', ')}`,
    );
  if (!/^[\w./-]{1,255}$/.test(options.merge) || options.merge.startsWith('-'))
    throw new UserError(`--merge ${options.merge}: give a commit sha (or a branch name)`);
  await inventoryNaming(options.cluster, options.inventory);
  const temporal = await connectClient();
  try {
    const workflowId = runWorkflowId(options.cluster, `dry-run-${Date.now().toString(36)}`);
    const handle = await temporal.client.workflow.start<typeof mergeDryRun>('mergeDryRun', {
      taskQueue: temporal.settings.taskQueue,
      workflowId,
      args: [{ cluster: options.cluster, commit: options.merge, source: `dry run by ${operator(options)}` }],
      searchAttributes: { TalosCluster: [options.cluster] },
    });
    console.error(
      `dry run ${workflowId}: reading ${options.merge} from the cluster's repository, then planning and pre-flight; nothing is touched`,
    );
    return await printDryRun(temporal, workflowId, handle);
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
  options: {
    cluster: string;
    to: string;
    k8sTo?: string;
    strategy?: Strategy;
    by?: string;
    nodes?: string[];
  },
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
        ...(options.nodes ? { nodes: options.nodes } : {}),
        source: `dry run by ${operator(options)}`,
        dryRun: true,
      },
    ],
    searchAttributes: { TalosCluster: [options.cluster] },
  });
  console.error(
    `dry run ${workflowId}: planning and pre-flight against the live cluster; nothing is touched`,
  );
  return printDryRun(temporal, workflowId, handle);
}

/** Waits for a dry run and prints its plan and answer: exit 0 when pre-flight passed (or nothing to do). */
async function printDryRun(
  temporal: TemporalClient,
  workflowId: string,
  handle: { result(): Promise<ClusterUpgradeResult> },
): Promise<number> {
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
  printRebuildPlans(result);
}

/** A version argument, or a UserError (exit 2) that says what was expected. */
function versionArg(value: string, flag: string): string {
  try {
    return parseVersion(value, flag);
  } catch (error) {
    throw new UserError(error instanceof Error ? `${error.message}; nothing was sent` : String(error));
  }
}

/** Each node's rebuild as pre-flight's saved Terraform plans summed it up (cattle hops). */
function printRebuildPlans(result: ClusterUpgradeResult): void {
  if (!result.rebuildPlans?.length) return;
  console.log('Terraform plans of each rebuild (saved, nothing applied):');
  for (const plan of result.rebuildPlans)
    console.log(
      `  ${plan.node} → Talos ${plan.version}: its destroy ${plan.destroy}; its create ${plan.create}`,
    );
}
