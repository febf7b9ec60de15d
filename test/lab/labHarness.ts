import { mkdtemp, readFile, readlink, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KubeConfig } from '@kubernetes/client-node';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { callLabApi, type LabApiCall } from '../../lab/daemon/client.js';
import { KeepAliveKubeConfig } from '../../src/activities/keepAliveKubeConfig.js';
import { readLabEnv } from '../../lab/labEnv.js';
import { execa } from 'execa';
import { parse } from 'yaml';
import { presetChoices, userInventory } from '../harness/userInventory.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TALOS_LAB = join(ROOT, 'lab/bin/talos-lab.js');

/** The options of `talos-lab fault add`, as the daemon takes them. */
export interface FaultOptions {
  node?: string;
  times?: number;
  version?: string;
  seconds?: number;
  daemonSet?: string;
}

export interface Lab {
  dir: string;
  env: Record<string, string>;
  /** The lab daemon's control API, as daemon.json gives it. */
  apiUrl: string;
  core: CoreV1Api;
  kc: KubeConfig;
  pid: number;
  /** Runs a command with the lab's environment (KUBECONFIG, TALOSCONFIG, ...), never throwing. */
  run(
    command: string,
    args: string[],
    options?: { cwd?: string; timeoutMs?: number },
  ): Promise<{ exitCode: number; stdout: string; stderr: string; timedOut?: boolean }>;
  /** The real talosctl with the lab's talosconfig. */
  talosctl(...args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  /** A node's address on the lab's loopback block, from the lab's inventory. */
  ip(node: string): string;
  labCli(...args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  /**
   * The lab daemon's control API without a process: a GET of e.g. `/report` or `/status` (what
   * `talos-lab report --json` and `status --json` print), or a POST of `body`. The suites poll the
   * lab's state in loops, and each `talos-lab` command cost 1.8 s of CPU (Node with tsx) on a 2-core
   * machine shared by three suites; `test/lab/` keeps checking the commands themselves.
   */
  api<T>(path: string, body?: Record<string, unknown>): Promise<T>;
  /** `talos-lab fault add <kind>` through the API (`test/lab/faults.test.ts` checks the command). */
  addFault(kind: string, options?: FaultOptions): Promise<{ id: number }>;
  /** `talos-lab fault clear [kind]` through the API: how many faults it cleared. */
  clearFaults(kind?: string): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Starts a lab through the real `talos-lab up`, in its own directory, with short boot delays.
 * `beforeInit` does to the user's repository what the user did before running init (commit it, push
 * it to GitHub: lab/github/gitHost.ts), given the lab's directory.
 */
export async function startLab(
  preset = 'prox-ops',
  extraArgs: string[] = [],
  options: { beforeInit?: (labDir: string) => Promise<void> } = {},
): Promise<Lab> {
  const dir = await mkdtemp(join(tmpdir(), `talos-lab-${preset}-`));
  const labCli = async (...args: string[]) => {
    const result = await execa('node', [TALOS_LAB, ...args, '--dir', dir], {
      reject: false,
      timeout: 600_000,
    });
    return { exitCode: result.exitCode ?? -1, stdout: result.stdout, stderr: result.stderr };
  };
  const up = await labCli(
    'up',
    '--preset',
    preset,
    '--reboot-seconds',
    '1',
    '--vm-boot-seconds',
    '1',
    '--image-pull-seconds',
    '1',
    '--install-seconds',
    '1',
    ...extraArgs,
  );
  if (up.exitCode !== 0) throw new Error(`talos-lab up failed:\n${up.stdout}\n${up.stderr}`);
  try {
    // The lab writes no inventory: its user runs init on what it built (a fleet's members, each theirs).
    const env = await readLabEnv(dir);
    await options.beforeInit?.(dir);
    if (!env.TALOS_LAB_FLEET)
      env.TALOS_UPGRADE_INVENTORY = await userInventory(dir, env, await presetChoices(preset));
    return await connect(dir, env, labCli);
  } catch (error) {
    // Nobody gets a Lab to stop: stop it here, or its servers outlive the test run.
    await labCli('down');
    throw error;
  }
}

async function connect(
  dir: string,
  env: Record<string, string>,
  labCli: (...args: string[]) => Promise<{ exitCode: number; stdout: string; stderr: string }>,
): Promise<Lab> {
  const daemon = JSON.parse(await readFile(join(dir, 'daemon.json'), 'utf8')) as {
    pid: number;
    apiUrl: string;
  };
  // A fleet's members are in fleet.json instead; ip() is for single-cluster labs.
  const inventory = env.TALOS_UPGRADE_INVENTORY
    ? (parse(await readFile(env.TALOS_UPGRADE_INVENTORY, 'utf8')) as {
        nodes: Array<{ name: string; ip: string }>;
      })
    : { nodes: [] };
  const ips = new Map(inventory.nodes.map((n) => [n.name, n.ip]));
  // A failed call names what it asked: "fetch failed" alone does not say which of a test's calls it was.
  const labApi = <T>(path: string, call: LabApiCall) =>
    callLabApi<T>(daemon.apiUrl, path, call).catch((error: unknown) => {
      const method = call.method ?? (call.body === undefined ? 'GET' : 'POST');
      throw new Error(
        `lab API ${method} ${path}: ${error instanceof Error ? error.message : String(error)}`,
        {
          cause: error,
        },
      );
    });
  // Reused connections: a test's polls paid a TLS handshake each, on the API server's cores too.
  const kc = new KeepAliveKubeConfig();
  kc.loadFromFile(env.KUBECONFIG ?? '');
  const run = async (command: string, args: string[], options: { cwd?: string; timeoutMs?: number } = {}) => {
    const result = await execa(command, args, {
      reject: false,
      env,
      cwd: options.cwd ?? ROOT,
      timeout: options.timeoutMs ?? 300_000,
    });
    return {
      exitCode: result.exitCode ?? -1,
      stdout: result.stdout,
      stderr: result.stderr,
      ...(result.timedOut ? { timedOut: true } : {}),
    };
  };
  return {
    dir,
    env,
    apiUrl: daemon.apiUrl,
    kc,
    core: kc.makeApiClient(CoreV1Api),
    pid: daemon.pid,
    run,
    talosctl: (...args: string[]) => run(env.TALOSCTL ?? '', args),
    ip: (node: string) => {
      const address = ips.get(node);
      if (!address) throw new Error(`the lab has no node ${node}`);
      return address;
    },
    labCli: (...args: string[]) => labCli(...args),
    api: <T>(path: string, body?: Record<string, unknown>) => labApi<T>(path, body ? { body } : {}),
    addFault: async (kind: string, options: FaultOptions = {}) => {
      const { fault } = await labApi<{ fault: { id: number } }>('/faults', { body: { kind, ...options } });
      return fault;
    },
    clearFaults: async (kind?: string) => {
      const { cleared } = await labApi<{ cleared: unknown[] }>('/faults', {
        method: 'DELETE',
        body: kind ? { kind } : {},
      });
      return cleared.length;
    },
    stop: async () => {
      await labCli('down');
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export function installerImage(lab: Lab, version: string, schematic: string): string {
  const registry = (lab.env.TALOS_LAB_REGISTRY ?? '').replace(/^http:\/\//, '');
  return `${registry}/installer/${schematic}:v${version}`;
}

export const WORKER_SCHEMATIC = '990731763242a6b3cf735e49d0f550ce4068b4d0e7f4dfbb49a31799b698877e';
/** prox-ops's GPU workers' own schematic: the workers' extensions and NVIDIA's drivers. */
export const GPU_SCHEMATIC = '9fe678268508b2236a9f7b20737c37f0bb7340ead63b2c68725db67721b3d6e8';
export const CONTROLLER_SCHEMATIC = '366fd68945d42e0b6428f65068c83c2c3c08e3afb0e3bc3f00e04b28e2ad0ce2';

/** A CephCluster's `status.ceph` as Rook (or the lab's Rook) last wrote it. */
export interface CephStatus {
  health: string;
  details?: Record<string, { severity: string; message: string }>;
}

/** What the lab last wrote into its CephCluster `rook-ceph`. */
export async function cephStatus(lab: Lab): Promise<CephStatus> {
  const object = (await lab.kc.makeApiClient(CustomObjectsApi).getNamespacedCustomObject({
    group: 'ceph.rook.io',
    version: 'v1',
    namespace: 'rook-ceph',
    plural: 'cephclusters',
    name: 'rook-ceph',
  })) as { status: { ceph: CephStatus } };
  return object.status.ceph;
}

export async function nodeReady(lab: Lab, name: string): Promise<boolean> {
  const node = await lab.core.readNode({ name }).catch(() => undefined);
  return !!node?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
}

/**
 * The processes whose command line matches `pattern` and that run inside this lab's directory (their
 * working directory under it). `pgrep -f` alone sees every suite's lab: a terraform another suite runs
 * beside this one matches the same command line.
 */
export async function labProcesses(lab: Lab, pattern: string): Promise<number[]> {
  const found = await lab.run('pgrep', ['-f', pattern]);
  if (found.exitCode !== 0) return [];
  const root = await realpath(lab.dir);
  const pids = found.stdout.split('\n').filter(Boolean).map(Number);
  const cwds = await Promise.all(pids.map((pid) => readlink(`/proc/${pid}/cwd`).catch(() => '')));
  return pids.filter((_, i) => cwds[i] === root || cwds[i]?.startsWith(`${root}/`));
}

/** Polls `check` until it gives something truthy, and returns that. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T>,
  timeoutMs = 30_000,
): Promise<Exclude<T, false | undefined | null | '' | 0>> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await check();
    if (value) return value as Exclude<T, false | undefined | null | '' | 0>;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}
