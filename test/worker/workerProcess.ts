import { readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import { parse, stringify } from 'yaml';
import { withFreshPorts } from '../../lab/net/freshPorts.js';
import { FAST_POLICY } from '../harness/fastPolicy.js';
import { testTemporalAddress } from '../harness/temporalEnv.js';
import { untilReady } from '../harness/untilReady.js';
import type { Lab } from '../lab/labHarness.js';

const BIN = fileURLToPath(new URL('../../bin/talos-upgrade.js', import.meta.url));

/**
 * A copy of an inventory with its policy changed (shorter waits for tests and benchmarks) and any
 * other top-level `fields` replaced (notification targets), next to the original so its relative
 * paths still resolve: the worker process reads it like any inventory.
 */
export async function tunedInventory(
  original: string,
  policy: Record<string, unknown>,
  suffix = 'fast',
  fields: Record<string, unknown> = {},
): Promise<string> {
  const doc = parse(await readFile(original, 'utf8')) as { policy?: Record<string, unknown> };
  Object.assign(doc, fields);
  doc.policy = { ...doc.policy, ...policy };
  const file = join(dirname(original), `${basename(original, '.yaml')}-${suffix}.yaml`);
  await writeFile(file, stringify(doc));
  return file;
}

/** The lab's inventory with FAST_POLICY. */
export function fastInventory(lab: Lab): Promise<string> {
  return tunedInventory(lab.env.TALOS_UPGRADE_INVENTORY ?? '', FAST_POLICY);
}

export interface WorkerProcess {
  child: ResultPromise;
  /** Where its Prometheus metrics are served, on 127.0.0.1. */
  metricsPort: number;
  lines: string[];
  /** The JSON log lines parsed; lines that are not JSON are kept as { raw }. */
  logs(): Array<Record<string, unknown>>;
}

export interface WorkerProcessOptions {
  /** The lab's environment (KUBECONFIG, TALOSCONFIG, TALOSCTL, …) or a fleet's. */
  env: Record<string, string>;
  inventories: string[];
  taskQueue: string;
  /** The Temporal frontend; default: the test run's dev server. */
  address?: string;
  extraEnv?: Record<string, string>;
}

/**
 * Starts `talos-upgrade worker` as its own process, as an operator would, and waits until it is ready.
 * Its metrics port is picked free; when another suite takes it before the worker binds it, the
 * worker exits saying so and is started again on a new one.
 */
export function launchWorker(options: WorkerProcessOptions): Promise<WorkerProcess> {
  return withFreshPorts("a worker's metrics", async (pick) => {
    const metricsPort = await pick();
    try {
      return await launchOnce(options, metricsPort);
    } catch (error) {
      // The Temporal runtime names no port; withFreshPorts reads a Go server's words.
      if (error instanceof Error && /prometheus metrics exporter: Address already in use/.test(error.message))
        throw new Error(
          `listen tcp 127.0.0.1:${metricsPort}: bind: address already in use (the worker's metrics port)\n${error.message}`,
          { cause: error },
        );
      throw error;
    }
  });
}

async function launchOnce(options: WorkerProcessOptions, metricsPort: number): Promise<WorkerProcess> {
  const child = execa(
    'node',
    [
      BIN,
      'worker',
      ...options.inventories.flatMap((file) => ['--inventory', file]),
      '--metrics',
      `127.0.0.1:${metricsPort}`,
    ],
    {
      env: {
        ...options.env,
        TEMPORAL_ADDRESS: options.address ?? testTemporalAddress(),
        TALOS_UPGRADE_TASK_QUEUE: options.taskQueue,
        ...options.extraEnv,
      },
      reject: false,
      all: true,
    },
  );
  const lines: string[] = [];
  child.all?.on('data', (chunk: Buffer) => lines.push(...chunk.toString('utf8').split('\n').filter(Boolean)));
  const worker: WorkerProcess = {
    child,
    metricsPort,
    lines,
    logs: () =>
      lines.map((line) => {
        try {
          return JSON.parse(line) as Record<string, unknown>;
        } catch {
          return { raw: line };
        }
      }),
  };
  await untilReady(
    child,
    'the worker to log "worker ready"',
    () => worker.logs().some((l) => l.msg === 'worker ready'),
    () => lines.join('\n'),
    120_000,
  );
  return worker;
}

/** A worker process for one lab and one inventory, on the test run's dev server. */
export function startWorkerProcess(
  lab: Lab,
  inventory: string,
  taskQueue: string,
  extraEnv: Record<string, string> = {},
): Promise<WorkerProcess> {
  return launchWorker({ env: lab.env, inventories: [inventory], taskQueue, extraEnv });
}
