import { execa } from 'execa';
import { cancellationSignal, heartbeatWhile } from './activityContext.js';

export interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  durationMs: number;
  /** The command ran out its `timeoutMs` and was stopped (its exit code is then the signal's, or 124). */
  timedOut: boolean;
}

export interface RunOptions {
  cwd?: string;
  env?: Record<string, string>;
  timeoutMs?: number;
  /** What the heartbeat says while the command runs, given the last output line. */
  progress?: (lastLine: string) => unknown;
  heartbeatEveryMs?: number;
  /** Sent to stdin, e.g. nothing at all so a prompt fails instead of hanging. */
  input?: string;
  /**
   * How a cancel stops the child: `graceful` sends SIGINT and waits up to 2 minutes before SIGKILL
   * (terraform finishes its write and releases the state lock); `kill` gives 5 s; `ignore` runs the
   * command to its end even though the activity is cancelled (the reads that settle after a cancel).
   */
  onCancel?: 'kill' | 'graceful' | 'ignore';
  /**
   * For a command run on behalf of several activities (one terraform run for several VMs): what stops
   * it instead of the current activity's cancel (the queue aborts it once every member is cancelled),
   * and where its beats go instead of the current activity.
   */
  shared?: { signal: AbortSignal; heartbeat: (details: unknown) => void };
}

export const CANCEL_GRACE = { kill: 5000, graceful: 120_000 } as const;

/**
 * Runs a CLI (talosctl, terraform) as a child process. It heartbeats while the child runs (also while
 * a cancelled child winds down), stops the child when the activity is cancelled (see `onCancel`; a shared
 * command when its `shared.signal` aborts), and never throws for a non-zero exit: callers classify.
 * Secrets reach the child through its environment or files, never its arguments.
 */
export async function runCommand(
  file: string,
  args: string[],
  options: RunOptions = {},
): Promise<CommandResult> {
  const started = Date.now();
  let lastLine = '';
  const onCancel = options.onCancel ?? 'kill';
  const signal = onCancel === 'ignore' ? undefined : (options.shared?.signal ?? cancellationSignal());
  const child = execa(file, args, {
    reject: false,
    all: false,
    cwd: options.cwd,
    env: options.env,
    extendEnv: true,
    timeout: options.timeoutMs,
    input: options.input ?? '',
    ...(signal ? { cancelSignal: signal } : {}),
    killSignal: onCancel === 'graceful' ? 'SIGINT' : 'SIGTERM',
    forceKillAfterDelay: onCancel === 'graceful' ? CANCEL_GRACE.graceful : CANCEL_GRACE.kill,
  });
  // talosctl reports progress on stderr (`"<node>": <step>`), terraform on stdout: the last line of
  // either is what the heartbeat shows.
  const track = (chunk: Buffer) => {
    const lines = chunk.toString('utf8').trim().split('\n');
    lastLine = lines.at(-1) || lastLine;
  };
  child.stdout?.on('data', track);
  child.stderr?.on('data', track);
  const progress = () =>
    options.progress
      ? options.progress(lastLine)
      : {
          command: file.split('/').pop(),
          running: `${Math.round((Date.now() - started) / 1000)}s`,
          lastLine,
        };
  const result = await heartbeatWhile(child, progress, options.heartbeatEveryMs, options.shared?.heartbeat);
  if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('cancelled');
  return {
    exitCode: result.exitCode ?? (result.timedOut ? 124 : -1),
    stdout: String(result.stdout ?? ''),
    stderr: String(result.stderr ?? ''),
    durationMs: Date.now() - started,
    timedOut: result.timedOut,
  };
}
