import { Context } from '@temporalio/activity';

/**
 * The current activity's context, or undefined when the function runs outside a worker (the lab's
 * own scripts call some of these functions directly).
 */
export function currentActivity(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}

/**
 * Heartbeats with progress details when inside a remote activity; a no-op elsewhere. A local activity
 * cannot heartbeat (Temporal's core logs a warning for each try; the workflow task covers it).
 */
export function heartbeat(details: unknown): void {
  heartbeatOf(currentActivity(), details);
}

/** Heartbeats for a given activity: work shared by several activities beats for each of them. */
export function heartbeatOf(context: Context | undefined, details: unknown): void {
  if (context && !context.info.isLocal) context.heartbeat(details);
}

/**
 * Heartbeats at once and every few seconds while `work` runs, with the details `details()` gives at
 * each beat: a call that blocks (a CLI, a 30 s health check) must not look like a dead worker to a
 * short policy.heartbeatTimeout, and a loop of short calls must not stay silent for all of them.
 */
export async function heartbeatWhile<T>(
  work: Promise<T>,
  details: () => unknown,
  everyMs = 5000,
  beatWith: (details: unknown) => void = heartbeat,
): Promise<T> {
  beatWith(details());
  const beat = setInterval(() => beatWith(details()), everyMs);
  try {
    return await work;
  } finally {
    clearInterval(beat);
  }
}

export function cancellationSignal(): AbortSignal | undefined {
  return currentActivity()?.cancellationSignal;
}

/** Aborts after `ms`, or when the activity is cancelled (outside an activity, after `ms` only). */
export function boundedSignal(ms: number): AbortSignal {
  const cancelled = cancellationSignal();
  const timeout = AbortSignal.timeout(ms);
  return cancelled ? AbortSignal.any([timeout, cancelled]) : timeout;
}

/** Sleeps, but wakes up (and throws) when the activity is cancelled. */
export async function sleep(ms: number): Promise<void> {
  const context = currentActivity();
  if (context) {
    await context.sleep(ms);
    return;
  }
  await new Promise((resolve) => setTimeout(resolve, ms));
}
