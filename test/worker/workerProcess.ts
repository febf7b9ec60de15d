import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import { parse, stringify } from 'yaml';
import { testTemporalAddress } from '../harness/temporalEnv.js';
import { eventually, type Lab } from '../lab/labHarness.js';

const BIN = fileURLToPath(new URL('../../bin/talos-upgrade.js', import.meta.url));

/**
 * A copy of the lab's inventory with the waits shortened (stabilisation, drain), next to the
 * original so its relative paths still resolve: the worker process reads it like any inventory.
 */
export async function fastInventory(lab: Lab): Promise<string> {
  const original = lab.env.TALOS_UPGRADE_INVENTORY ?? '';
  const doc = parse(await readFile(original, 'utf8')) as { policy?: Record<string, unknown> };
  doc.policy = {
    ...doc.policy,
    stabilisation: '1s',
    nodeReadyTimeout: '60s',
    drain: { timeout: '2s', force: true },
  };
  const file = join(dirname(original), 'inventory-fast.yaml');
  await writeFile(file, stringify(doc));
  return file;
}

export interface WorkerProcess {
  child: ResultPromise;
  lines: string[];
  /** The JSON log lines parsed; lines that are not JSON are kept as { raw }. */
  logs(): Array<Record<string, unknown>>;
}

/** Starts `talos-upgrade worker` as its own process, as an operator would, and waits until it is ready. */
export async function startWorkerProcess(
  lab: Lab,
  inventory: string,
  taskQueue: string,
  metricsPort: number,
  extraEnv: Record<string, string> = {},
): Promise<WorkerProcess> {
  const child = execa(
    'node',
    [BIN, 'worker', '--inventory', inventory, '--metrics', `127.0.0.1:${metricsPort}`],
    {
      env: {
        ...lab.env,
        TEMPORAL_ADDRESS: testTemporalAddress(),
        TALOS_UPGRADE_TASK_QUEUE: taskQueue,
        ...extraEnv,
      },
      reject: false,
      all: true,
    },
  );
  const lines: string[] = [];
  child.all?.on('data', (chunk: Buffer) => lines.push(...chunk.toString('utf8').split('\n').filter(Boolean)));
  const worker: WorkerProcess = {
    child,
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
  await eventually(
    'the worker to log "worker ready"',
    async () => {
      if (child.exitCode !== null) throw new Error(`the worker exited early:\n${lines.join('\n')}`);
      return worker.logs().some((l) => l.msg === 'worker ready');
    },
    120_000,
  );
  return worker;
}
