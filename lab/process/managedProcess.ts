import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';

/** A child server of the lab: its output goes to <logDir>/<name>.log, and it is stopped in reverse order. */
export interface ManagedProcess {
  name: string;
  child: ChildProcess;
  logFile: string;
  /** The last lines it wrote (stdout and stderr), once its output has ended if it has exited. */
  lastLines(lines?: number): Promise<string>;
  stop(): Promise<void>;
}

/** How much of a process's latest output is kept in memory for an error message. */
const KEPT_OUTPUT_BYTES = 8192;

/** Waits for `done`, or `ms`, whichever comes first. */
async function atMost(done: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([done, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

export function startProcess(
  name: string,
  command: string,
  args: string[],
  logDir: string,
  env?: NodeJS.ProcessEnv,
): ManagedProcess {
  const logFile = join(logDir, `${name}.log`);
  const log = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
  // Two sources share one file, so neither ends it: the file is ended once the child's output has
  // closed. A child's last chunks can arrive after its 'exit' (a server that dies at once on a taken
  // port), and ending the file at 'exit' made those a 'write after end' that failed the lab.
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  // Kept in memory too: the file is written behind the pipe, and may not hold a dying server's last
  // words when its exit is noticed.
  let kept = Buffer.alloc(0);
  const keep = (chunk: Buffer) => {
    // Bytes, decoded when read: a character split between two chunks is whole again by then.
    kept = Buffer.concat([kept, chunk]).subarray(-KEPT_OUTPUT_BYTES);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let outputClosed = false;
  const outputEnded = new Promise<void>((resolve) =>
    child.once('close', () => {
      outputClosed = true;
      resolve();
    }),
  );
  // Closed once all that was written to it is in the file (after an error too).
  const logClosed = new Promise<void>((resolve) => log.once('close', () => resolve()));
  const endLog = () => {
    child.stdout?.unpipe(log);
    child.stderr?.unpipe(log);
    if (!log.writableEnded) log.end();
  };
  void outputEnded.then(endLog);
  return {
    name,
    child,
    logFile,
    lastLines: async (lines = 12) => {
      if (child.exitCode !== null || child.signalCode !== null) {
        await atMost(outputEnded, 1000);
      }
      return kept.toString('utf8').trimEnd().split('\n').slice(-lines).join('\n');
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 8000);
        await exited;
        clearTimeout(killer);
      }
      // A grandchild that inherited the output can hold it open after the child is gone: the file is
      // ended after a short wait whatever happens, unpiped first so that nothing writes to it later,
      // and our ends of the pipes are closed (the grandchild gets EPIPE, not a full pipe to block on).
      await atMost(outputEnded, 2000);
      if (!outputClosed) {
        child.stdout?.destroy();
        child.stderr?.destroy();
      }
      endLog();
      await logClosed;
    },
  };
}

/** How long one probe may go unanswered before it counts as "not yet". */
const PROBE_TIMEOUT_MS = 5000;

/**
 * One readiness check. It passes `signal` to the requests it makes: the signal is aborted once the
 * check is given up or has settled, which ends a request still open; nothing may use it afterwards.
 */
export type Probe = (signal: AbortSignal) => Promise<boolean>;

/**
 * The probe's answer, or false once `ms` have passed without one. Its signal is aborted then (and
 * after any answer): a request still open would otherwise live on beside the next probe.
 */
async function answerWithin(probe: Probe, ms: number): Promise<boolean> {
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>(
    (resolve) =>
      (timer = setTimeout(() => {
        abort.abort(new Error(`no answer within ${ms} ms`));
        resolve(false);
      }, ms)),
  );
  try {
    return await Promise.race([probe(abort.signal).catch(() => false), late]);
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
}

/**
 * Resolves when `probe` succeeds; fails early, with the log's tail, when a watched process dies first
 * (a server that could not bind its port says so there: see withFreshPorts), and with the watched
 * processes' last lines when the time is up. A probe that gets no answer is given up after
 * `probeTimeoutMs`: a port taken by a server that accepts and never answers (what the API server
 * found when it could not bind) held a probe, and with it this wait, past any deadline; its signal
 * is aborted then, which ends the request it made.
 */
export async function waitUntil(
  what: string,
  probe: Probe,
  options: {
    timeoutMs: number;
    process?: ManagedProcess | ManagedProcess[];
    intervalMs?: number;
    probeTimeoutMs?: number;
  },
): Promise<void> {
  const watched = options.process === undefined ? [] : [options.process].flat();
  const deadline = Date.now() + options.timeoutMs;
  while (Date.now() < deadline) {
    const dead = watched.find((proc) => proc.child.exitCode !== null || proc.child.signalCode !== null);
    if (dead) {
      const how = dead.child.signalCode ?? `code ${dead.child.exitCode}`;
      const said = (await dead.lastLines()) || '(no output)';
      throw new Error(
        `${dead.name} exited (${how}) before ${what}; see ${dead.logFile}. Its last lines:\n${said}`,
      );
    }
    const left = Math.max(1, deadline - Date.now());
    if (await answerWithin(probe, Math.min(options.probeTimeoutMs ?? PROBE_TIMEOUT_MS, left))) return;
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 200));
  }
  const said = await Promise.all(
    watched.map(async (proc) => `${proc.logFile}, last lines:\n${(await proc.lastLines()) || '(no output)'}`),
  );
  throw new Error([`timed out after ${options.timeoutMs / 1000}s waiting for ${what}`, ...said].join('\n'));
}
