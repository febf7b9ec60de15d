import { MultiBar, Presets, type SingleBar } from 'cli-progress';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { ClusterProgress, ClusterUpgradeResult } from '../../workflows/types.js';
import { connectClient } from '../temporalClient.js';
import { duration, OUTCOME_MARK, table } from './format.js';
import { webUiLink } from './operate.js';
import { resolveRun } from './target.js';

interface NodeStep {
  node: string;
  step: string;
  index: number;
  total: number;
}

async function snapshot(client: Client, handle: WorkflowHandle) {
  const progress = await handle.query<ClusterProgress>('progress');
  const steps = await Promise.all(
    (progress.inFlight ?? []).map((f) =>
      client.workflow
        .getHandle(f.workflowId)
        .query<NodeStep>('nodeProgress')
        .catch(() => ({ node: f.node, step: 'starting', index: 0, total: 1 })),
    ),
  );
  return { progress, steps };
}

function describeProgress(progress: ClusterProgress): string {
  const done = progress.nodes.length;
  const approval = progress.approval ? `, approval ${progress.approval.state}` : '';
  const window =
    progress.window?.state === 'waiting'
      ? `, waiting for a maintenance window until ${progress.window.until ?? '?'} (talos-upgrade override-window to go now)`
      : progress.window?.state === 'overridden'
        ? `, maintenance windows overridden by ${progress.window.by ?? '?'}`
        : '';
  return `${progress.phase}${progress.hop ? ` (${progress.hop})` : ''}${progress.paused ? ', PAUSED' : ''}${approval}${window} — ${done}/${progress.totalNodeUpgrades} node upgrades done`;
}

function printSnapshot(progress: ClusterProgress, steps: NodeStep[]): void {
  console.log(describeProgress(progress));
  // What an approver decides on: what pre-flight checked and found.
  if (progress.preFlight) console.log(`pre-flight ${progress.preFlight}`);
  if (steps.length)
    console.log(
      table(
        ['IN FLIGHT', 'STEP', 'OF'],
        steps.map((s) => [s.node, s.step, `${s.index}/${s.total}`]),
      ),
    );
  if (progress.nodes.length)
    console.log(
      table(
        ['NODE', 'HOP', 'STRATEGY', 'OUTCOME', 'TIME'],
        progress.nodes.map((n) => [
          n.node,
          n.hop,
          n.strategy,
          `${OUTCOME_MARK[n.outcome] ?? ''} ${n.outcome}`,
          duration(n.durationMs),
        ]),
      ),
    );
}

/** Live bars: the whole run, and one per node in flight (its saga step of its total). */
async function watch(client: Client, handle: WorkflowHandle): Promise<void> {
  const tty = process.stdout.isTTY;
  const bars = tty
    ? new MultiBar(
        {
          format: '{label} |{bar}| {value}/{total} {detail}',
          hideCursor: true,
          clearOnComplete: false,
          barsize: 30,
        },
        Presets.shades_classic,
      )
    : undefined;
  const overall = bars?.create(1, 0, { label: 'run'.padEnd(14), detail: '' });
  const nodeBars = new Map<string, SingleBar>();
  let lastLine = '';
  let reported = 0;
  for (;;) {
    const described = await handle.describe();
    if (described.status.name !== 'RUNNING') break;
    const { progress, steps } = await snapshot(client, handle).catch(() => ({
      progress: undefined,
      steps: [],
    }));
    if (progress) {
      for (const n of progress.nodes.slice(reported)) {
        const line = `${OUTCOME_MARK[n.outcome] ?? ''} ${n.node} ${n.hop} ${n.outcome} in ${duration(n.durationMs)}${n.error ? `: ${n.error}` : ''}`;
        if (bars) bars.log(line + '\n');
        else console.log(line);
      }
      reported = progress.nodes.length;
      if (bars && overall) {
        overall.setTotal(Math.max(1, progress.totalNodeUpgrades));
        overall.update(progress.nodes.length, { detail: describeProgress(progress).split(' — ')[0] });
        for (const [node, bar] of nodeBars)
          if (!steps.some((s) => s.node === node)) {
            bars.remove(bar);
            nodeBars.delete(node);
          }
        for (const s of steps) {
          const bar =
            nodeBars.get(s.node) ?? bars.create(s.total, 0, { label: s.node.padEnd(14), detail: '' });
          nodeBars.set(s.node, bar);
          bar.setTotal(s.total);
          bar.update(s.index, { detail: s.step });
        }
      } else {
        const line = `${describeProgress(progress)}${steps.length ? ` | ${steps.map((s) => `${s.node}: ${s.step} (${s.index}/${s.total})`).join(', ')}` : ''}`;
        if (line !== lastLine) console.log(line);
        lastLine = line;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  bars?.stop();
}

async function printOutcome(handle: WorkflowHandle): Promise<void> {
  const described = await handle.describe();
  if (described.status.name === 'RUNNING') return;
  const phase = described.searchAttributes?.UpgradePhase?.[0];
  console.log(
    `${handle.workflowId}: ${described.status.name.toLowerCase()}${phase ? ` (${String(phase)})` : ''}`,
  );
  const result = (await handle.result().catch((error: unknown) => {
    const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
    console.log(`  ${cause instanceof Error ? cause.message : String(cause)}`);
    return undefined;
  })) as ClusterUpgradeResult | undefined;
  if (result?.outcome)
    console.log(`  outcome: ${result.outcome}${result.reason ? ` — ${result.reason}` : ''}`);
}

/** `status [<cluster|workflowId>] [--watch]`: where a run is, or every running upgrade. */
export async function statusCommand(
  target: string | undefined,
  options: { watch?: boolean },
): Promise<number> {
  const temporal = await connectClient();
  try {
    const { client } = temporal;
    if (!target) {
      const rows: string[][] = [];
      for await (const run of client.workflow.list({
        query: `WorkflowType = 'clusterUpgrade' AND ExecutionStatus = 'Running'`,
      })) {
        const sa = run.searchAttributes;
        rows.push([
          run.workflowId,
          String(sa.TalosCluster?.[0] ?? ''),
          `${String(sa.TalosFromVersion?.[0] ?? '?')} -> ${String(sa.TalosToVersion?.[0] ?? '?')}`,
          String(sa.UpgradePhase?.[0] ?? ''),
          duration(Date.now() - run.startTime.getTime()),
        ]);
      }
      console.log(
        rows.length
          ? table(['WORKFLOW', 'CLUSTER', 'TALOS', 'PHASE', 'RUNNING FOR'], rows)
          : 'no upgrade is running',
      );
      return 0;
    }
    const workflowId = await resolveRun(client, target);
    const handle = client.workflow.getHandle(workflowId);
    console.log(`${workflowId}  (${webUiLink(temporal.settings, workflowId)})`);
    if (options.watch) await watch(client, handle);
    else if ((await handle.describe()).status.name === 'RUNNING') {
      const { progress, steps } = await snapshot(client, handle);
      printSnapshot(progress, steps);
    }
    await printOutcome(handle);
    return 0;
  } finally {
    await temporal.close();
  }
}
