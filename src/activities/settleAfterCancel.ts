import { cancellationSignal, currentActivity, heartbeat } from './activityContext.js';
import type { ActivityDeps, ClusterHandle } from './deps.js';
import { parseMachineStage, talosctl } from './talosctl.js';

const SETTLE_READS_APART_MS = 3000;

/**
 * Runs a talosctl call that may hand the node a reboot (upgrade, reboot). When the activity is
 * cancelled meanwhile, talosctl is stopped, but Talos carries on with what it accepted: before the
 * cancel is let through (and the compensation starts) the node is waited out until it is back in
 * stage `running`, read twice a few seconds apart so that an upgrade accepted just before the client
 * stopped has had time to show.
 */
export async function settlingOnCancel<T>(
  deps: ActivityDeps,
  c: ClusterHandle,
  node: { name: string; ip: string },
  timeoutMs: number,
  call: () => Promise<T>,
): Promise<T> {
  try {
    return await call();
  } catch (error) {
    // A worker shutting down is no cancel: the activity is retried elsewhere, and the retry finds the
    // node where it is. Only an operator's (or a parent's) cancel waits the node out here.
    const details = currentActivity()?.cancellationDetails;
    if (cancellationSignal()?.aborted && !details?.workerShutdown)
      await waitUntilRunning(deps, c, node, timeoutMs);
    throw error;
  }
}

async function waitUntilRunning(
  deps: ActivityDeps,
  c: ClusterHandle,
  node: { name: string; ip: string },
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let runningReads = 0;
  while (Date.now() < deadline) {
    // Runs to its end although the activity is cancelled: it is what makes the cancel safe.
    const status = await talosctl(deps, c, ['-n', node.ip, 'get', 'machinestatus', '-o', 'json'], {
      timeoutMs: 20_000,
      onCancel: 'ignore',
    });
    const stage = status.exitCode === 0 ? parseMachineStage(status.stdout) : undefined;
    runningReads = stage === 'running' ? runningReads + 1 : 0;
    heartbeat({
      node: node.name,
      step: 'cancelled: waiting for the node to settle',
      stage: stage ?? 'no answer',
    });
    if (runningReads >= 2) return;
    // Not the activity's sleep: that one throws at once in a cancelled activity.
    await new Promise((resolve) => setTimeout(resolve, SETTLE_READS_APART_MS));
  }
  // The compensation retries its talosctl calls until the node answers; the log says why it waits.
  currentActivity()?.log.warn('the node had not settled after the cancel', { node: node.name, timeoutMs });
}
