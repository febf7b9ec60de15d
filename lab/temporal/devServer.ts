import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { withFreshPorts } from '../net/freshPorts.js';
import { ensureTools } from '../tools.js';

export interface DevServerOptions {
  /** Where the SQLite file and the server log go; a restart on the same dir keeps all history. */
  dataDir: string;
  /** Custom search attributes to register, name -> type (Keyword, Text, Int, ...). */
  searchAttributes: Readonly<Record<string, string>>;
  /** Serve the Web UI (the demo) or not (tests). */
  ui?: boolean;
  port?: number;
  uiPort?: number;
  namespace?: string;
}

export interface DevServer {
  address: string;
  uiUrl?: string;
  namespace: string;
  pid: number;
  logFile: string;
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 90_000;

async function waitForFrontend(address: string, namespace: string, child: ChildProcess, logFile: string) {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(`temporal server start-dev exited with code ${child.exitCode}; see ${logFile}`);
    }
    try {
      const connection = await Connection.connect({ address, connectTimeout: 2000 });
      try {
        // Answering for the namespace means the frontend and the history service are both up.
        await connection.workflowService.describeNamespace({ namespace });
        return;
      } finally {
        await connection.close();
      }
    } catch (error) {
      lastError = error;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
  throw new Error(
    `the Temporal dev server at ${address} was not ready in ${READY_TIMEOUT_MS / 1000}s: ${String(lastError)}; see ${logFile}`,
  );
}

function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(killer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

async function logTail(logFile: string, lines = 12): Promise<string> {
  const text = await readFile(logFile, 'utf8').catch(() => '');
  const tail = text.trimEnd().split('\n').slice(-lines);
  return tail.length && tail[0]
    ? `last lines of the server log:\n${tail.join('\n')}`
    : '(the server log is empty)';
}

/**
 * Starts the real Temporal dev server on 127.0.0.1 with free ports, and waits until it answers. When
 * a port it picked was taken between the pick and the server's bind, it starts again on new ones; a
 * port the caller gave (`port`, `uiPort`: a restart keeps its address) is never changed.
 */
export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  const { temporal } = await ensureTools('temporal');
  return withFreshPorts('the Temporal dev server', (pick) => startOnce(temporal, options, pick), {
    progress: (message) => console.error(message),
  });
}

async function startOnce(
  temporal: string,
  options: DevServerOptions,
  pick: () => Promise<number>,
): Promise<DevServer> {
  await mkdir(options.dataDir, { recursive: true });
  const namespace = options.namespace ?? 'default';
  const port = options.port ?? (await pick());
  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    '--http-port',
    String(await pick()),
    '--metrics-port',
    String(await pick()),
    '--db-filename',
    join(options.dataDir, 'temporal.db'),
    // A write-ahead log synced at every commit: as durable as SQLite's default rollback journal,
    // which syncs the journal and the database several times a commit. Each write to a workflow
    // (a webhook's signal, a worker's task completion) waits for that commit, and with the default
    // the syncs were most of it (bench/RESULTS.md, Webhook). A copy of the database must take its
    // -wal and -shm files with it (a restart on the same folder replays them).
    '--sqlite-pragma',
    'journal_mode=wal',
    '--sqlite-pragma',
    'synchronous=full',
    '--log-level',
    'warn',
    // An activity scheduled by a workflow task goes straight back to the worker that completed it,
    // sparing a trip through the matching service (as deploy/temporal-dynamic-config.yaml sets too).
    '--dynamic-config-value',
    'system.enableActivityEagerExecution=true',
  ];
  if (namespace !== 'default') args.push('--namespace', namespace);
  const uiPort = options.ui ? (options.uiPort ?? (await pick())) : undefined;
  if (uiPort === undefined) args.push('--headless');
  else args.push('--ui-ip', '127.0.0.1', '--ui-port', String(uiPort));
  for (const [name, type] of Object.entries(options.searchAttributes))
    args.push('--search-attribute', `${name}=${type}`);

  const logFile = join(options.dataDir, 'temporal-server.log');
  const log = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(temporal, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  // 'close' comes after the child's output streams have ended (its 'exit' may come before).
  const closed = new Promise((resolve) => child.once('close', resolve));
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const address = `127.0.0.1:${port}`;
  try {
    await waitForFrontend(address, namespace, child, logFile);
  } catch (error) {
    await stopProcess(child);
    await closed;
    await new Promise((resolve) => log.end(resolve));
    // The log lives in a temporary directory a test removes on failure: its last lines go with the error.
    throw new Error(`${(error as Error).message}\n${await logTail(logFile)}`, { cause: error });
  }
  return {
    address,
    namespace,
    pid: child.pid ?? -1,
    logFile,
    ...(uiPort !== undefined ? { uiUrl: `http://127.0.0.1:${uiPort}` } : {}),
    stop: async () => {
      await stopProcess(child);
      log.end();
    },
  };
}
