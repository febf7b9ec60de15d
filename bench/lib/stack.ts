import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { stopOnSignals } from '../../lab/process/stopSignals.js';
import { startDevServer, type DevServer } from '../../lab/temporal/devServer.js';
import { SEARCH_ATTRIBUTES } from '../../src/domain/index.js';
import { startLab, type Lab } from '../../test/lab/labHarness.js';
import { FAST_POLICY } from '../../test/harness/fastPolicy.js';
import {
  launchWorker,
  tunedInventory,
  type WorkerProcess,
  type WorkerProcessOptions,
} from '../../test/worker/workerProcess.js';

/** The port of a `host:port` address. */
const portOf = (address: string) => Number(address.slice(address.lastIndexOf(':') + 1));

/** A Temporal frontend the benchmark talks to: its own dev server, or one it was given. */
export interface Temporal {
  address: string;
  client: Client;
  /** The dev server's process (own server only), for the benches that measure its CPU. */
  pid?: number;
  /** Stops the dev server and starts it again on the same port and database file (own server only). */
  restart?: () => Promise<void>;
}

/**
 * Starts a stopped dev server again on its port and database file, up to three times: on a loaded
 * machine one start can fail (its HTTP or metrics port, picked anew, taken twice in a row; a frontend
 * not ready in time), and a chaos run must not end there. The error carries the server log's tail.
 */
async function restartDevServer(options: Parameters<typeof startDevServer>[0]): Promise<DevServer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startDevServer(options);
    } catch (error) {
      if (attempt === 3) throw error;
      console.error(
        `the dev server did not come back (attempt ${attempt} of 3): ${(error as Error).message}`,
      );
    }
  }
}

/**
 * Everything one benchmark run starts — a dev server, labs, worker processes — stopped in reverse
 * order at the end, on a failure, or on Ctrl-C, so a benchmark never leaves a process behind.
 */
export class Stack {
  private readonly stops: Array<() => Promise<unknown>> = [];

  private constructor(readonly dir: string) {}

  static async create(name: string): Promise<Stack> {
    const stack = new Stack(await mkdtemp(join(tmpdir(), `talos-bench-${name}-`)));
    stack.defer(() => rm(stack.dir, { recursive: true, force: true }));
    return stack;
  }

  defer(stop: () => Promise<unknown>): void {
    this.stops.push(stop);
  }

  private closing?: Promise<void>;

  /**
   * Stops everything once. Ctrl-C and the body's own failure (its worker just died) can both ask;
   * the second caller must wait for the first, not find an empty list and let the process exit.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const stop of this.stops.splice(0).reverse()) await stop().catch(() => undefined);
    })();
    return this.closing;
  }

  /** The given frontend (a test run's dev server), else a dev server of the benchmark's own. */
  async temporal(address?: string): Promise<Temporal> {
    if (address) return { address, client: await this.client(address) };
    const dataDir = join(this.dir, 'temporal');
    // Its first start picks the port (again if it was taken); a restart keeps it, as clients hold it.
    let server: DevServer = await startDevServer({ dataDir, searchAttributes: SEARCH_ATTRIBUTES });
    const options = { dataDir, port: portOf(server.address), searchAttributes: SEARCH_ATTRIBUTES };
    this.defer(() => server.stop());
    return {
      address: server.address,
      client: await this.client(server.address),
      // A getter: a restart starts another process.
      get pid() {
        return server.pid;
      },
      restart: async () => {
        await server.stop();
        server = await restartDevServer(options);
      },
    };
  }

  private async client(address: string): Promise<Client> {
    const connection = await Connection.connect({ address });
    this.defer(() => connection.close());
    return new Client({ connection });
  }

  async lab(preset: string, args: string[]): Promise<Lab> {
    const lab = await startLab(preset, args);
    this.defer(() => lab.stop());
    return lab;
  }

  async worker(options: WorkerProcessOptions): Promise<WorkerProcess> {
    const worker = await launchWorker(options);
    this.defer(async () => {
      if (worker.child.exitCode === null) worker.child.kill('SIGTERM');
      await worker.child;
    });
    return worker;
  }
}

/**
 * Worker processes for a lab whose worker is killed and replaced (chaos, matrix): the lab's inventory
 * with the tests' FAST_POLICY (but Ready within 120 s), plus `policy`.
 */
export async function labWorkers(
  stack: Stack,
  lab: Lab,
  temporal: Temporal,
  options: {
    taskQueue: string;
    policy?: Record<string, unknown>;
    /** The inventory's notification targets (default: none). */
    notifications?: unknown[];
    /** Names the tuned inventory's file, so two workers of one lab can differ in policy. */
    suffix?: string;
  },
): Promise<{ inventory: string; start: () => Promise<WorkerProcess> }> {
  const inventory = await tunedInventory(
    lab.env.TALOS_UPGRADE_INVENTORY ?? '',
    // Ready within 120 s, as the benches' figures were measured with.
    { ...FAST_POLICY, nodeReadyTimeout: '120s', ...options.policy },
    options.suffix,
    options.notifications ? { notifications: options.notifications } : {},
  );
  const start = () =>
    stack.worker({
      env: lab.env,
      inventories: [inventory],
      taskQueue: options.taskQueue,
      address: temporal.address,
      extraEnv: { TALOS_UPGRADE_POLL_INTERVAL: '500ms' },
    });
  return { inventory, start };
}

/**
 * Runs a benchmark's body with a stack that is always stopped, also when Ctrl-C or `kill` interrupts it
 * (the labs run detached, so a benchmark that left without stopping them would leave their servers up).
 */
export async function withStack<T>(name: string, body: (stack: Stack) => Promise<T>): Promise<T> {
  const stack = await Stack.create(name);
  const release = stopOnSignals('what the benchmark started', () => stack.close());
  try {
    return await body(stack);
  } finally {
    // Released after the close: a Ctrl-C meanwhile still waits for it to end.
    await stack.close();
    release();
  }
}

/** Seconds with one decimal, for the tables. */
export const seconds = (ms: number) => (ms / 1000).toFixed(1);
