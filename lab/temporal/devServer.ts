import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { withFreshPorts } from '../net/freshPorts.js';
import { startProcess, waitUntil } from '../process/managedProcess.js';
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

/** Whether the frontend answers for the namespace: then the frontend and the history service are up. */
async function answers(address: string, namespace: string, signal: AbortSignal): Promise<boolean> {
  const connection = await Connection.connect({ address, connectTimeout: 2000 });
  try {
    // A deadline: a port answering TCP but not gRPC would otherwise hold the probe, and the wait, forever.
    // The signal ends the call sooner when the wait gives the probe up near its own deadline.
    await connection.withAbortSignal(signal, () =>
      connection.withDeadline(Date.now() + 2000, () =>
        connection.workflowService.describeNamespace({ namespace }),
      ),
    );
    return true;
  } finally {
    await connection.close();
  }
}

/**
 * Starts the real Temporal dev server on 127.0.0.1 with free ports, and waits until it answers. When
 * a port was taken between its pick and the server's bind, it starts again on new ones; a port the
 * caller gave (`port`, `uiPort`: a restart keeps its address) is never changed. The server picks the
 * ports of its history, matching and worker services itself, at each start, and dies when one of
 * those is taken (CI, 2026-11-27: its matching port, in a suite started beside others), so those
 * count too.
 */
export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  const { temporal } = await ensureTools('temporal');
  return withFreshPorts('the Temporal dev server', (pick) => startOnce(temporal, options, pick), {
    progress: (message) => console.error(message),
    picksOwnPorts: true,
  });
}

async function startOnce(
  temporal: string,
  options: DevServerOptions,
  pick: (given?: number) => Promise<number>,
): Promise<DevServer> {
  await mkdir(options.dataDir, { recursive: true });
  const namespace = options.namespace ?? 'default';
  const port = await pick(options.port);
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
    // the syncs were most of it (bench/HISTORY.md, Webhook). A copy of the database must take its
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
  const uiPort = options.ui ? await pick(options.uiPort) : undefined;
  if (uiPort === undefined) args.push('--headless');
  else args.push('--ui-ip', '127.0.0.1', '--ui-port', String(uiPort));
  for (const [name, type] of Object.entries(options.searchAttributes))
    args.push('--search-attribute', `${name}=${type}`);

  // Its log (temporal-server.log) stays in dataDir beside the database, appended to by restarts; a
  // failed start's last lines go with the error, as a test removes the directory on failure.
  const server = startProcess('temporal-server', temporal, args, options.dataDir);
  const address = `127.0.0.1:${port}`;
  try {
    await waitUntil(
      `the Temporal dev server at ${address}`,
      (signal) => answers(address, namespace, signal),
      {
        timeoutMs: READY_TIMEOUT_MS,
        process: server,
        intervalMs: 250,
      },
    );
  } catch (error) {
    await server.stop();
    throw error;
  }
  return {
    address,
    namespace,
    pid: server.child.pid ?? -1,
    logFile: server.logFile,
    ...(uiPort !== undefined ? { uiUrl: `http://127.0.0.1:${uiPort}` } : {}),
    stop: () => server.stop(),
  };
}
