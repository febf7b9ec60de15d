import { execa } from 'execa';
import { cancellationSignal, heartbeat } from './activityContext.js';

export interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  durationMs: number;
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
}

/**
 * Runs a CLI (talosctl, terraform) as a child process. It heartbeats while the child runs, kills the
 * child when the activity is cancelled, and never throws for a non-zero exit: callers classify.
 * Secrets reach the child through its environment or files, never its arguments.
 */
export async function runCommand(
  file: string,
  args: string[],
  options: RunOptions = {},
): Promise<CommandResult> {
  const started = Date.now();
  let lastLine = '';
  const signal = cancellationSignal();
  const child = execa(file, args, {
    reject: false,
    all: false,
    cwd: options.cwd,
    env: options.env,
    extendEnv: true,
    timeout: options.timeoutMs,
    input: options.input ?? '',
    ...(signal ? { cancelSignal: signal } : {}),
    forceKillAfterDelay: 5000,
  });
  // talosctl reports progress on stderr (`"<node>": <step>`), terraform on stdout: the last line of
  // either is what the heartbeat shows.
  const track = (chunk: Buffer) => {
    const lines = chunk.toString('utf8').trim().split('\n');
    lastLine = lines.at(-1) || lastLine;
  };
  child.stdout?.on('data', track);
  child.stderr?.on('data', track);
  const beat = setInterval(
    () =>
      heartbeat(
        options.progress
          ? options.progress(lastLine)
          : {
              command: file.split('/').pop(),
              running: `${Math.round((Date.now() - started) / 1000)}s`,
              lastLine,
            },
      ),
    options.heartbeatEveryMs ?? 5000,
  );
  try {
    const result = await child;
    if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('cancelled');
    return {
      exitCode: result.exitCode ?? (result.timedOut ? 124 : -1),
      stdout: String(result.stdout ?? ''),
      stderr: String(result.stderr ?? ''),
      durationMs: Date.now() - started,
    };
  } finally {
    clearInterval(beat);
  }
}
