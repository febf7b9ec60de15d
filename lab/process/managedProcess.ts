import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';

/** A child server of the lab: its output goes to <logDir>/<name>.log, and it is stopped in reverse order. */
export interface ManagedProcess {
  name: string;
  child: ChildProcess;
  logFile: string;
  stop(): Promise<void>;
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
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    name,
    child,
    logFile,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 8000);
        await exited;
        clearTimeout(killer);
      }
      log.end();
    },
  };
}

/** Resolves when `probe` succeeds; fails early with the log's tail when the process dies first. */
export async function waitUntil(
  what: string,
  probe: () => Promise<boolean>,
  options: { timeoutMs: number; process?: ManagedProcess; intervalMs?: number },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  while (Date.now() < deadline) {
    const proc = options.process;
    if (proc && proc.child.exitCode !== null) {
      throw new Error(
        `${proc.name} exited with code ${proc.child.exitCode} before ${what}; see ${proc.logFile}`,
      );
    }
    if (await probe().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 200));
  }
  throw new Error(
    `timed out after ${options.timeoutMs / 1000}s waiting for ${what}${options.process ? `; see ${options.process.logFile}` : ''}`,
  );
}
