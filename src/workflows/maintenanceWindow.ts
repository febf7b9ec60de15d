import { condition, log } from '@temporalio/workflow';
import type { ClusterDescription } from '../activities/cluster.js';
import { describeWindow } from '../domain/index.js';
import { local } from './activityOptions.js';
import type { ClusterRun } from './clusterRun.js';

/** Even a window that opens "now" by the activity's clock is looked at again no sooner than this. */
const LEAST_WAIT_MS = 1000;

/**
 * Holds the run until one of the cluster's maintenance windows is open, or an operator overrides the
 * windows for this run. Called before each node starts: a node in flight when a window closes
 * finishes, and the next waits on a durable timer in phase AwaitingMaintenanceWindow, whose progress
 * says until when. Lanes of workers that arrive while the run waits share the one wait.
 */
export function awaitMaintenanceWindow(
  run: ClusterRun,
  cluster: ClusterDescription,
  /** The run failed elsewhere (another lane's node): stop waiting, nothing more will start. */
  stopped: () => boolean = () => false,
): Promise<void> {
  const windows = cluster.maintenanceWindows;
  if (!windows?.length || run.decisions.windowOverride) return Promise.resolve();
  run.windowWait ??= waitForWindow(run, windows, stopped).finally(() => {
    run.windowWait = undefined;
  });
  return run.windowWait;
}

async function waitForWindow(
  run: ClusterRun,
  windows: NonNullable<ClusterDescription['maintenanceWindows']>,
  stopped: () => boolean,
): Promise<void> {
  const { progress, decisions } = run;
  const described = windows.map(describeWindow);
  let resumePhase: string | undefined;
  for (;;) {
    if (stopped()) break;
    if (decisions.windowOverride) {
      const { by, identity } = decisions.windowOverride;
      progress.window = { state: 'overridden', windows: described, by, ...(identity ? { identity } : {}) };
      break;
    }
    const state = await local.maintenanceWindowState({ windows, at: Date.now() });
    if (state.open) {
      progress.window = { state: 'open', windows: described, until: new Date(state.closesAt).toISOString() };
      break;
    }
    const opensAt = new Date(state.opensAt).toISOString();
    progress.window = { state: 'waiting', windows: described, until: opensAt };
    resumePhase ??= progress.phase;
    run.phase('AwaitingMaintenanceWindow');
    run.details(`waiting for a maintenance window: opens ${opensAt} (${described.join('; ')})`);
    log.info('outside every maintenance window: waiting', { opensAt, windows: described });
    await condition(
      () => !!decisions.windowOverride || stopped(),
      Math.max(LEAST_WAIT_MS, state.opensAt - Date.now()),
      {
        summary: `maintenance window opens ${opensAt}`,
      },
    );
  }
  if (resumePhase) {
    run.phase(resumePhase);
    run.details('');
  }
}
