import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { parse } from 'yaml';
import {
  DEFAULT_KUBERNETES_SUPPORT,
  describeRange,
  isKubernetesSupported,
  minorOf,
  parseVersion,
} from '../../src/domain/index.js';
import { writeNodeStatus } from '../cluster/nodeObjects.js';
import { sleep, TalosApiError, type LabCluster } from '../daemon/labCluster.js';
import { startUpgrade } from '../daemon/talosUpgrade.js';
import { applyMachineConfig } from '../daemon/vmLifecycle.js';
import type { LabNode } from '../state/labState.js';
import { parseGoDuration, parseTalosctlArgs, UsageError, value, type ParsedArgs } from './argv.js';
import { targetNodes } from './context.js';
import {
  linkColumns,
  linkStatuses,
  machineStatus,
  machineStatusColumns,
  printResources,
} from './resources.js';
import { table } from './table.js';

export interface TalosctlRequest {
  argv: string[];
  cwd: string;
  env: Record<string, string | undefined>;
}

export interface TalosctlResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

interface Call {
  lab: LabCluster;
  args: ParsedArgs;
  nodes: string[];
  cwd: string;
  out: string[];
}

const CLIENT_TAG = 'v1.11.3';

function unreachable(node: LabNode, why: 'refused' | 'no route'): TalosApiError {
  const detail = why === 'refused' ? 'connect: connection refused' : 'connect: no route to host';
  return new TalosApiError(
    node.ip,
    'Unavailable',
    `connection error: desc = "transport: Error while dialing: dial tcp ${node.ip}:50000: ${detail}"`,
  );
}

/** The node as its Talos API answers: errors for a node that is down, rebooting or failing on purpose. */
function reach(call: Call, target: string, options: { maintenanceOk?: boolean } = {}): LabNode {
  const node = call.lab.requireNode(target);
  if (node.power === 'destroyed') throw unreachable(node, 'no route');
  if (node.power === 'rebooting') throw unreachable(node, 'refused');
  if (call.lab.fire('talosctl-transient', node)) throw unreachable(node, 'refused');
  if (node.power === 'maintenance' && !options.maintenanceOk) {
    throw new TalosApiError(node.ip, 'Unimplemented', 'API is not implemented in maintenance mode');
  }
  return node;
}

/** Runs `fn` for every target node, collecting per-node errors the way talosctl reports them. */
async function forEachNode(
  call: Call,
  verb: string,
  fn: (target: string) => Promise<void> | void,
  print?: () => unknown,
): Promise<void> {
  const errors: string[] = [];
  for (const target of call.nodes) {
    try {
      await fn(target);
    } catch (error) {
      if (error instanceof TalosApiError) errors.push(`${target}: ${error.message}`);
      else throw error;
    }
  }
  // The healthy nodes' answers are printed before the other nodes' errors, as talosctl does.
  print?.();
  if (errors.length) {
    throw new UsageError(
      `error ${verb}: ${errors.length} error${errors.length > 1 ? 's' : ''} occurred:\n${errors.map((e) => `\t* ${e}`).join('\n')}\n`,
    );
  }
}

function version(call: Call): Promise<void> {
  const json = call.args.booleans.has('json');
  if (!json)
    call.out.push(
      `Client:\n\tTag:         ${CLIENT_TAG}\n\tSHA:         8f3b7a1c\n\tBuilt:       \n\tGo version:  go1.24.9\n\tOS/Arch:     linux/amd64\nServer:\n`,
    );
  return forEachNode(call, 'getting version', (target) => {
    const node = reach(call, target);
    if (json) {
      call.out.push(
        JSON.stringify({
          metadata: { hostname: node.ip },
          version: {
            tag: `v${node.talosVersion}`,
            sha: 'lab',
            built: '',
            goVersion: 'go1.24.9',
            os: 'linux',
            arch: 'amd64',
          },
          platform: { name: 'nocloud', mode: 'cloud' },
        }) + '\n',
      );
    } else {
      call.out.push(
        `\tNODE:        ${node.ip}\n\tTag:         v${node.talosVersion}\n\tSHA:         lab\n\tBuilt:       \n\tGo version:  go1.24.9\n\tOS/Arch:     linux/amd64\n\tEnabled:     RBAC\n`,
      );
    }
  });
}

async function get(call: Call): Promise<void> {
  const resource = (call.args.positionals[1] ?? '').toLowerCase();
  const output = value(call.args, 'output') ?? 'table';
  const links = ['links', 'link', 'linkstatus', 'linkstatuses'].includes(resource);
  const status = ['machinestatus', 'machinestatuses'].includes(resource);
  if (!links && !status)
    throw new UsageError(
      `error getting resource: resource "${resource}" is not known to the lab (known: links, machinestatus)`,
    );
  const resources: ReturnType<typeof linkStatuses> = [];
  await forEachNode(
    call,
    'getting resources',
    async (target) => {
      const node = reach(call, target, { maintenanceOk: true });
      if (links) resources.push(...linkStatuses(node));
      else resources.push(machineStatus(node, await nodeReady(call.lab, node)));
    },
    () => call.out.push(printResources(resources, output, links ? linkColumns : machineStatusColumns)),
  );
}

async function nodeReady(lab: LabCluster, node: LabNode): Promise<boolean> {
  try {
    const object = await lab.core.readNode({ name: node.name });
    return !!object.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
  } catch {
    return false;
  }
}

function requireEtcdMember(call: Call, target: string): LabNode {
  const node = reach(call, target);
  if (node.role !== 'controlplane')
    throw new TalosApiError(node.ip, 'FailedPrecondition', 'etcd is not running on worker nodes');
  if (!call.lab.etcdHealthy(node))
    throw new TalosApiError(node.ip, 'Unknown', 'failed to get etcd client: context deadline exceeded');
  return node;
}

const MEMBER_COLUMNS = ['NODE', 'ID', 'HOSTNAME', 'PEER URLS', 'CLIENT URLS', 'LEARNER'];
const STATUS_COLUMNS = [
  'NODE',
  'MEMBER',
  'DB SIZE',
  'IN USE',
  'LEADER',
  'RAFT INDEX',
  'RAFT TERM',
  'RAFT APPLIED INDEX',
  'LEARNER',
  'ERRORS',
];

async function etcd(call: Call): Promise<void> {
  const sub = call.args.positionals[1];
  const lab = call.lab;
  const members = () => lab.controlPlane().filter((n) => n.etcd?.member);
  const leader = () => members().find((n) => lab.etcdHealthy(n));
  if (sub === 'members') {
    const rows: string[][] = [];
    const memberRow = (node: LabNode, m: LabNode) => [
      node.ip,
      m.etcd?.id ?? '',
      m.name,
      `https://${m.ip}:2380`,
      `https://${m.ip}:2379`,
      'false',
    ];
    await forEachNode(
      call,
      'getting members',
      (target) => {
        const node = requireEtcdMember(call, target);
        for (const m of members()) rows.push(memberRow(node, m));
      },
      () => rows.length && call.out.push(table(MEMBER_COLUMNS, rows)),
    );
  } else if (sub === 'status') {
    const rows: string[][] = [];
    const statusRow = (node: LabNode) => [
      node.ip,
      node.etcd?.id ?? '',
      '24 MB',
      '11 MB (45.83%)',
      leader()?.etcd?.id ?? '',
      '2418091',
      '14',
      '2418091',
      'false',
      '',
    ];
    await forEachNode(
      call,
      'getting status',
      (target) => {
        rows.push(statusRow(requireEtcdMember(call, target)));
      },
      () => rows.length && call.out.push(table(STATUS_COLUMNS, rows)),
    );
  } else if (sub === 'snapshot') {
    const file = call.args.positionals[2];
    if (!file) throw new UsageError('accepts 1 arg(s), received 0: talosctl etcd snapshot <path>');
    const target = call.nodes[0] ?? '';
    await forEachNode({ ...call, nodes: [target] }, 'taking snapshot', async () => {
      requireEtcdMember(call, target);
      const path = isAbsolute(file) ? file : resolve(call.cwd, file);
      const body = Buffer.concat([
        Buffer.from(
          JSON.stringify({
            cluster: lab.state.cluster,
            members: members().map((m) => m.etcd?.id),
            takenAt: new Date().toISOString(),
          }),
        ),
        randomBytes(64 * 1024),
      ]);
      await writeFile(path, body);
      const hash = createHash('sha256').update(body).digest('hex').slice(0, 8);
      call.out.push(
        `etcd snapshot saved to "${path}" (${body.length} bytes)\nsnapshot info: hash ${hash}, revision 2418091, total keys 1893, total size ${body.length}\n`,
      );
    });
  } else if (sub === 'leave') {
    await forEachNode(call, 'leaving etcd', (target) => {
      const node = requireEtcdMember(call, target);
      node.etcd = { id: node.etcd?.id ?? '', member: false };
      lab.record('etcd-left', node.name, node.etcd.id);
    });
  } else if (sub === 'remove-member') {
    const id = call.args.positionals[2];
    if (!id) throw new UsageError('accepts 1 arg(s), received 0: talosctl etcd remove-member <member ID>');
    await forEachNode({ ...call, nodes: [call.nodes[0] ?? ''] }, 'removing member', (target) => {
      requireEtcdMember(call, target);
      const member = members().find((m) => m.etcd?.id === id.toLowerCase() || m.name === id);
      if (!member) throw new TalosApiError(target, 'NotFound', `etcdserver: member not found`);
      member.etcd = { id: member.etcd?.id ?? '', member: false };
      lab.record('etcd-member-removed', member.name, id);
    });
  } else {
    throw new UsageError(
      `unknown etcd command "${sub ?? ''}" (lab knows: members, status, snapshot, leave, remove-member)`,
    );
  }
}

async function upgrade(call: Call): Promise<void> {
  const image = value(call.args, 'image');
  if (!image) throw new UsageError('--image is required');
  const wait = call.args.booleans.has('wait');
  const timeoutMs = parseGoDuration(value(call.args, 'timeout'), 30 * 60_000);
  const rows: string[][] = [];
  const pending: Array<{ node: LabNode; done: Promise<void> }> = [];
  await forEachNode(call, 'executing upgrade', (target) => {
    const node = reach(call, target);
    const { done } = startUpgrade(call.lab, node, { image, force: call.args.booleans.has('force') });
    pending.push({ node, done });
    rows.push([node.ip, 'Upgrade request received', new Date().toISOString()]);
  });
  if (!wait) {
    call.out.push(table(['NODE', 'ACK', 'STARTED'], rows));
    return;
  }
  for (const { node, done } of pending) {
    call.out.push(`watching nodes: [${node.ip}]\n    * ${node.ip}: post check passed\n`);
    const finished = await Promise.race([done.then(() => true), sleep(timeoutMs).then(() => false)]);
    if (!finished)
      throw new UsageError(
        `error executing upgrade: 1 error occurred:\n\t* ${node.ip}: timeout waiting for the node to come back\n`,
      );
  }
}

async function applyConfig(call: Call): Promise<void> {
  const file = value(call.args, 'file');
  if (!file) throw new UsageError('no filename supplied for configuration (--file)');
  await readFile(resolve(call.cwd, file), 'utf8').catch(() => {
    throw new UsageError(`failed to read configuration from "${file}": no such file or directory`);
  });
  await forEachNode(call, 'applying new configuration', async (target) => {
    const node = reach(call, target, { maintenanceOk: true });
    await applyMachineConfig(call.lab, node, call.args.booleans.has('insecure'));
  });
}

async function patch(call: Call): Promise<void> {
  const spec = value(call.args, 'patch');
  if (!spec) throw new UsageError('--patch is required');
  const text = spec.startsWith('@')
    ? await readFile(resolve(call.cwd, spec.slice(1)), 'utf8').catch(() => {
        throw new UsageError(`failed to read patch file "${spec.slice(1)}": no such file or directory`);
      })
    : spec;
  const doc = parse(text) as { machine?: { files?: Array<{ path?: string; content?: string }> } } | null;
  await forEachNode(call, 'patching', (target) => {
    const node = reach(call, target);
    for (const file of doc?.machine?.files ?? []) if (file.path) node.files[file.path] = file.content ?? '';
    const name = spec.startsWith('@') ? (spec.split('/').pop() ?? spec) : 'inline';
    node.patches = [...node.patches.filter((p) => p !== name), name];
    call.lab.record('patch-applied', node.name, name);
    call.out.push(
      `patched MachineConfigs.config.talos.dev/v1alpha1 at the node ${node.ip}\nApplied configuration without a reboot\n`,
    );
  });
}

async function upgradeK8s(call: Call): Promise<void> {
  const lab = call.lab;
  const to = parseVersion(value(call.args, 'to') ?? '', '--to');
  const from = parseVersion(value(call.args, 'from') ?? lab.state.kubernetesVersion, '--from');
  const [fromMajor, fromMinor] = minorOf(from).split('.').map(Number);
  const [toMajor, toMinor] = minorOf(to).split('.').map(Number);
  if (fromMajor !== toMajor || (toMinor ?? 0) - (fromMinor ?? 0) > 1 || (toMinor ?? 0) < (fromMinor ?? 0)) {
    throw new UsageError(
      `error upgrading Kubernetes: unsupported upgrade path ${minorOf(from)}->${minorOf(to)} (from "${from}" to "${to}")`,
    );
  }
  const controllers = lab.controlPlane();
  for (const node of controllers) {
    const range = DEFAULT_KUBERNETES_SUPPORT[minorOf(node.talosVersion)];
    if (range && !isKubernetesSupported(range, to)) {
      throw new UsageError(
        `error upgrading Kubernetes: Kubernetes ${to} is not supported by Talos ${node.talosVersion} on ${node.ip} (supports ${describeRange(range)})`,
      );
    }
  }
  const dry = call.args.booleans.has('dry-run');
  const ips = (role: string) =>
    JSON.stringify(lab.state.nodes.filter((n) => n.role === role).map((n) => n.ip));
  call.out.push(
    `automatically detected the lowest Kubernetes version ${from}\nchecking for resource APIs to be deprecated in version ${to}\ndiscovered controlplane nodes ${ips('controlplane')}\ndiscovered worker nodes ${ips('worker')}\n`,
  );
  for (const component of [
    'kube-apiserver',
    'kube-controller-manager',
    'kube-scheduler',
    'kube-proxy',
    'kubelet',
  ]) {
    call.out.push(`updating "${component}" to version "${to}"\n`);
    const targets = component === 'kubelet' || component === 'kube-proxy' ? lab.state.nodes : controllers;
    for (const node of targets) {
      call.out.push(` > "${node.ip}": starting update\n`);
      if (dry) call.out.push(` > skipped in dry-run\n`);
    }
  }
  if (dry) return;
  for (const node of lab.state.nodes) {
    node.kubernetesVersion = to;
    if (node.power === 'running') await writeNodeStatus(lab.core, node);
  }
  lab.state.kubernetesVersion = to;
  lab.record('kubernetes-upgraded', undefined, `${from} -> ${to}`);
}

async function health(call: Call): Promise<void> {
  const lab = call.lab;
  const deadline = Date.now() + parseGoDuration(value(call.args, 'wait-timeout'), 20 * 60_000);
  call.out.push(`discovered nodes: ${JSON.stringify(lab.state.nodes.map((n) => n.ip))}\n`);
  const checks: Array<[string, () => Promise<string | undefined>]> = [
    [
      'etcd to be healthy',
      async () => {
        const bad = lab.etcdMembers().filter((m) => !lab.etcdHealthy(m));
        return bad.length ? `etcd members unhealthy: ${bad.map((m) => m.ip).join(', ')}` : undefined;
      },
    ],
    [
      'etcd members to be control plane nodes',
      async () => {
        const missing = lab.controlPlane().filter((n) => !n.etcd?.member);
        return missing.length
          ? `control plane nodes not in etcd: ${missing.map((n) => n.ip).join(', ')}`
          : undefined;
      },
    ],
    [
      'all k8s nodes to report ready',
      async () => {
        const notReady: string[] = [];
        for (const node of lab.state.nodes) if (!(await nodeReady(lab, node))) notReady.push(node.name);
        return notReady.length ? `some nodes are not ready: [${notReady.join(' ')}]` : undefined;
      },
    ],
  ];
  for (const [what, check] of checks) {
    for (;;) {
      const problem = await check();
      if (!problem) {
        call.out.push(`waiting for ${what}: OK\n`);
        break;
      }
      if (Date.now() > deadline)
        throw new UsageError(
          `waiting for ${what}: ${problem}\nhealthcheck error: rpc error: code = DeadlineExceeded desc = context deadline exceeded\n`,
        );
      await sleep(500);
    }
  }
}

async function read(call: Call): Promise<void> {
  const path = call.args.positionals[1];
  if (!path) throw new UsageError('accepts 1 arg(s), received 0: talosctl read <path>');
  await forEachNode(call, 'reading file', (target) => {
    const node = reach(call, target);
    const builtIn: Record<string, string> = {
      '/etc/os-release': `NAME="Talos"\nID=talos\nVERSION_ID=v${node.talosVersion}\nPRETTY_NAME="Talos (v${node.talosVersion})"\n`,
      '/proc/version': 'Linux version 6.12.57-talos (@buildkitsandbox) (gcc (GCC) 14.2.0) #1 SMP\n',
    };
    const content = node.files[path] ?? builtIn[path];
    if (content === undefined)
      throw new TalosApiError(node.ip, 'Unknown', `open ${path}: no such file or directory`);
    call.out.push(content);
  });
}

const COMMANDS: Record<string, (call: Call) => Promise<void>> = {
  version,
  get,
  etcd,
  upgrade,
  'apply-config': applyConfig,
  patch,
  'upgrade-k8s': upgradeK8s,
  health,
  read,
};

/** Runs one talosctl invocation against the lab, with the real command's syntax and output shapes. */
export async function runTalosctl(lab: LabCluster, request: TalosctlRequest): Promise<TalosctlResult> {
  const out: string[] = [];
  try {
    const args = parseTalosctlArgs(request.argv);
    const command = args.positionals[0];
    const handler = command ? COMMANDS[command] : undefined;
    if (!handler)
      throw new UsageError(
        `unknown command "${command ?? ''}" for "talosctl" (the lab knows: ${Object.keys(COMMANDS).join(', ')})`,
      );
    if (
      command === 'patch' &&
      !['mc', 'machineconfig', 'machineconfigs'].includes(args.positionals[1] ?? '')
    ) {
      throw new UsageError('the lab patches machine configs only: talosctl patch mc --patch @file');
    }
    const nodes = targetNodes(args, request.env);
    await handler({ lab, args, nodes, cwd: request.cwd, out });
    lab.persist();
    return { stdout: out.join(''), stderr: '', exitCode: 0 };
  } catch (error) {
    if (error instanceof UsageError)
      return {
        stdout: out.join(''),
        stderr: error.message.endsWith('\n') ? error.message : `${error.message}\n`,
        exitCode: 1,
      };
    if (error instanceof TalosApiError)
      return { stdout: out.join(''), stderr: `error: ${error.node}: ${error.message}\n`, exitCode: 1 };
    return { stdout: out.join(''), stderr: `lab error: ${String(error)}\n`, exitCode: 1 };
  }
}
