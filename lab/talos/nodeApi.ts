import { configFiles } from '../daemon/machineFiles.js';
import { sleep, TalosApiError, type LabCluster } from '../daemon/labCluster.js';
import { startUpgrade } from '../daemon/talosUpgrade.js';
import { applyMachineConfig } from '../daemon/vmLifecycle.js';
import { bootDefault, pendingBoot } from '../daemon/bootSlots.js';
import { installUpgrade, kernelCmdline, pullImage } from '../daemon/talosLifecycle.js';
import { STATIC_PODS, updateStaticPod, type StaticPod } from '../cluster/staticPods.js';
import { writeNodeStatus } from '../cluster/nodeObjects.js';
import { isNodeReady } from '../daemon/nodeCache.js';
import { powerOf, type LabNode } from '../state/labState.js';
import { imageExtensions } from '../daemon/schematics.js';
import { linkStatuses } from './links.js';
import { etcdSnapshotKeys, etcdStatus, requireEtcd, requireLocalEtcd } from './etcd.js';
import { etcdDowngrade } from './etcdStorage.js';

/** One call of the lab Talos API server (lab/talos-api) about one node, by its address. */
export interface NodeCall {
  ip: string;
  [key: string]: unknown;
}

/** `signal`: the call's context, aborted when its caller gives up (a client's deadline). */
type Handler = (lab: LabCluster, node: LabNode, call: NodeCall, signal: AbortSignal) => unknown;

function unreachable(node: LabNode): TalosApiError {
  return new TalosApiError(
    node.ip,
    'Unavailable',
    `connection error: desc = "transport: Error while dialing: dial tcp ${node.ip}:50000: connect: connection refused"`,
  );
}

/**
 * The node's Talos hostname, which etcd uses as the member name: the lab gives every node a domain,
 * so a member's name is never the inventory's node name (as on many real clusters).
 */
export function talosHostname(node: LabNode): string {
  return `${node.name}.lab.internal`;
}

const str = (call: NodeCall, key: string): string => {
  const value = call[key];
  return typeof value === 'string' ? value : '';
};

async function kubeReady(lab: LabCluster, node: LabNode): Promise<boolean> {
  return isNodeReady(await lab.core.readNode({ name: node.name }).catch(() => undefined));
}

const HANDLERS: Record<string, Handler> = {
  node: (_lab, node) => ({
    name: node.name,
    hostname: talosHostname(node),
    role: node.role,
    talosVersion: node.talosVersion,
  }),

  resources: async (lab, node) => ({
    talosVersion: node.talosVersion,
    stage: node.power === 'maintenance' ? 'maintenance' : 'running',
    ready: node.power === 'running' && (await kubeReady(lab, node)),
    links: linkStatuses(node, lab.runningConfig(node)),
    machineConfig: lab.runningConfig(node) ?? '',
    cmdline: kernelCmdline(node),
    extensions: imageExtensions(node.schematic, node.talosVersion),
  }),

  // The config alone, for the Talos API server to compare a new one with (no links, no Kubernetes read).
  'machine-config': (lab, node) => ({ machineConfig: lab.machineConfigs.get(node.name) ?? '' }),

  // The version machined runs, which its own config decoder is: what it can read of a config.
  'talos-version': (_lab, node) => ({ talosVersion: node.talosVersion }),

  read: (lab, node, call) => {
    const path = str(call, 'path');
    const builtIn: Record<string, string> = {
      '/proc/sys/kernel/random/boot_id': `${node.bootId ?? ''}\n`,
      '/etc/os-release': `NAME="Talos"\nID=talos\nVERSION_ID=v${node.talosVersion}\nPRETTY_NAME="Talos (v${node.talosVersion})"\n`,
      '/proc/version': 'Linux version 6.12.57-talos (@buildkitsandbox) (gcc (GCC) 14.2.0) #1 SMP\n',
    };
    // machine.files as the node's last boot wrote them, not as a config applied since says.
    const content = builtIn[path] ?? lab.bootFiles(node)[path];
    if (content === undefined)
      throw new TalosApiError(node.ip, 'NotFound', `open ${path}: no such file or directory`);
    return { content };
  },

  upgrade: async (lab, node, call, signal) => {
    await startUpgrade(
      lab,
      node,
      {
        image: str(call, 'image'),
        force: call.force === true,
        preserve: call.preserve === true,
        stage: call.stage === true,
        installerRefusal: typeof call.installerRefusal === 'string' ? call.installerRefusal : '',
      },
      signal,
    );
    return {};
  },

  'image-pull': (lab, node, call, signal) =>
    pullImage(lab, node, str(call, 'image'), str(call, 'namespace'), signal),

  'lifecycle-upgrade': (lab, node, call) =>
    installUpgrade(
      lab,
      node,
      str(call, 'image'),
      str(call, 'namespace'),
      typeof call.installerRefusal === 'string' && call.installerRefusal
        ? { message: call.installerRefusal, exitCode: Number(call.installerExitCode) }
        : undefined,
    ),

  // A reboot boots what is installed: a staged upgrade (Talos 1.13) comes up as the new version.
  reboot: (lab, node) => {
    rebootNode(lab, node);
    return {};
  },

  // The mode is Talos's as the lab Talos API decided it (internal/machine/config.go): NO_REBOOT and
  // TRY apply at once (but machine.files only at the next boot), STAGED at the next boot, REBOOT
  // (to Talos 1.13) applies and reboots the node by itself.
  'apply-config': async (lab, node, call) => {
    const text = str(call, 'config');
    const mode = typeof call.mode === 'string' ? call.mode : 'NO_REBOOT';
    const before = configFiles(lab.machineConfigs.get(node.name));
    const maintenance = call.maintenance === true;
    if (maintenance !== (node.power === 'maintenance')) throw unreachable(node);
    if (maintenance) {
      lab.machineConfigs.set(node.name, text);
      await applyMachineConfig(lab, node);
      return {};
    }
    const added = Object.keys(configFiles(text)).filter((path) => !(path in before));
    const what = added.length ? `files ${added.join(', ')}` : 'config updated';
    if (mode === 'STAGED') {
      lab.stagedConfigs.set(node.name, text);
      lab.record('patch-applied', node.name, `staged for the next boot: ${what}`);
      return {};
    }
    lab.machineConfigs.set(node.name, text);
    lab.stagedConfigs.delete(node.name);
    // Files wait for a boot: to 1.13 the REBOOT mode starts it; from 1.14 a live config may carry new ones.
    const when = added.length ? ' (written at the next boot)' : '';
    lab.record(
      'patch-applied',
      node.name,
      mode === 'REBOOT' ? `${what}; rebooting to apply it` : `${what}${when}`,
    );
    if (mode === 'REBOOT') rebootNode(lab, node);
    return {};
  },

  'static-pod': async (lab, node, call) => {
    const pod = str(call, 'component');
    if (!(STATIC_PODS as readonly string[]).includes(pod))
      throw new TalosApiError(node.ip, 'InvalidArgument', `no static pod ${pod}`);
    await updateStaticPod(lab.core, node, pod as StaticPod, str(call, 'image'), str(call, 'configVersion'));
    lab.record('static-pod-updated', node.name, `${pod} ${str(call, 'image')}`);
    return {};
  },

  kubelet: async (lab, node, call) => {
    const version = /:v?(\d+\.\d+\.\d+)/.exec(str(call, 'image'))?.[1];
    if (!version)
      throw new TalosApiError(
        node.ip,
        'InvalidArgument',
        `kubelet image ${str(call, 'image')} has no version tag`,
      );
    node.kubernetesVersion = version;
    await writeNodeStatus(lab.core, node, 'keep');
    lab.record('kubelet-restarted', node.name, `v${version}`);
    if (
      lab.state.nodes.every((n) => n.kubernetesVersion === version) &&
      lab.state.kubernetesVersion !== version
    ) {
      lab.record('kubernetes-upgraded', undefined, `${lab.state.kubernetesVersion} -> ${version}`);
      lab.state.kubernetesVersion = version;
    }
    return {};
  },

  // A control plane node created the bootstrap objects the API server lacked (lab/talos-api
  // internal/machine/manifestApply.go).
  'manifests-applied': (lab, node, call) => {
    const created = Array.isArray(call.created) ? (call.created as string[]) : [];
    lab.record(
      'manifests-applied',
      node.name,
      `created ${created.length ? created.join(', ') : 'nothing'}; ${Number(call.present)} already there`,
    );
    return {};
  },

  'etcd/members': (lab, node) => {
    requireLocalEtcd(lab, node, 'member list');
    return {
      members: lab.etcdMembers().map((m) => ({
        id: m.etcd?.id ?? '',
        hostname: talosHostname(m),
        peerUrls: [`https://${m.ip}:2380`],
        clientUrls: m.power === 'running' ? [`https://${m.ip}:2379`] : [],
        learner: m.etcd?.learner === true,
      })),
    };
  },

  'etcd/status': (lab, node) => etcdStatus(lab, node),

  'etcd/leave': (lab, node) => {
    requireEtcd(lab, node, 'etcd leave');
    node.etcd = { id: node.etcd?.id ?? '', member: false };
    lab.record('etcd-left', node.name, node.etcd.id);
    return {};
  },

  'etcd/remove-member': (lab, node, call) => {
    requireEtcd(lab, node, 'etcd remove member');
    const id = str(call, 'id');
    const member = lab.etcdMembers().find((m) => m.etcd?.id === id);
    if (!member)
      throw new TalosApiError(
        node.ip,
        'NotFound',
        `failed to remove member ${str(call, 'decimal')}: etcdserver: member not found`,
      );
    member.etcd = { id: member.etcd?.id ?? '', member: false };
    lab.record('etcd-member-removed', member.name, id);
    return {};
  },

  'etcd/downgrade': (lab, node, call) => {
    const action = str(call, 'action');
    if (action !== 'validate' && action !== 'enable' && action !== 'cancel')
      throw new TalosApiError(node.ip, 'InvalidArgument', `unknown etcd downgrade action ${action}`);
    const version = str(call, 'version');
    const refused = action === 'cancel' ? undefined : downgradeVersionRefusal(version);
    if (node.role === 'controlplane' && refused) throw new TalosApiError(node.ip, 'InvalidArgument', refused);
    requireLocalEtcd(lab, node, `etcd downgrade ${action}`);
    const answer = etcdDowngrade(lab, action, version);
    // machined wraps etcd's refusal in its status call's words (v1alpha1_server.go 2312 at v1.14.1).
    if ('error' in answer)
      throw new TalosApiError(node.ip, 'FailedPrecondition', `failed to query etcd status: ${answer.error}`);
    return answer;
  },

  'etcd/snapshot': (lab, node) => {
    requireLocalEtcd(lab, node, 'etcd snapshot');
    return etcdSnapshotKeys(lab);
  },
};

/** machined's validateDowngrade (v1alpha1_server.go 2366-2392 at v1.14.1): MAJOR.MINOR, 3.5 or later. */
function downgradeVersionRefusal(version: string): string | undefined {
  if (!version) return 'version is required for etcd downgrade';
  const parts = version.split('.');
  if (parts.length !== 2) return 'version should be in MAJOR.MINOR format';
  const [major, minor] = parts.map(Number);
  if (!Number.isInteger(major)) return 'major version should be a number';
  if (!Number.isInteger(minor)) return 'minor version should be a number';
  if ((major ?? 0) < 3 || (major === 3 && (minor ?? 0) < 5))
    return 'etcd downgrade is only supported to 3.5 and later versions';
  return undefined;
}

const INTERNAL = new Set(['static-pod', 'kubelet', 'manifests-applied', 'talos-version']);
const READ_ONLY = new Set([
  'node',
  'resources',
  'machine-config',
  'read',
  'etcd/members',
  'etcd/status',
  'etcd/snapshot',
  'talos-version',
]);

/**
 * Answers the lab Talos API server: the node as its machined would see it. A node that is down,
 * rebooting or failing on purpose answers as Talos does (the transient fault: Unavailable).
 */
export async function answerNodeCall(
  lab: LabCluster,
  op: string,
  call: NodeCall,
  signal: AbortSignal,
): Promise<unknown> {
  const handler = HANDLERS[op];
  if (!handler) throw new TalosApiError(call.ip, 'Unimplemented', `the lab does not serve ${op}`);
  const node = lab.node(call.ip);
  if (!node) throw unreachable({ ip: call.ip } as LabNode);
  // What the Talos API server reports of a node's own controllers is not a client's call: it is
  // neither refused by a fault meant for clients nor by the node's power.
  if (!INTERNAL.has(op)) {
    if (node.power === 'destroyed' || node.power === 'rebooting') throw unreachable(node);
    if (lab.fire('talosctl-transient', node)) throw unreachable(node);
  }
  const result = await handler(lab, node, call, signal);
  if (!READ_ONLY.has(op)) lab.persist();
  return result;
}

/**
 * A reboot as Talos starts it in the background: the answer leaves first, the node goes down, and
 * it boots what is installed (a staged upgrade) with its staged config, if any.
 */
function rebootNode(lab: LabCluster, node: LabNode): void {
  void (async () => {
    await sleep(1000);
    if (powerOf(node) !== 'running') return;
    await lab.powerOff(node, 'rebooting');
    await sleep(lab.timing.rebootSeconds * 1000);
    if (powerOf(node) !== 'rebooting') return;
    const upgraded = pendingBoot(node) !== undefined;
    const boot = bootDefault(lab, node);
    // A boot loop never comes up: the VM stays down until someone recreates it.
    if (boot === 'boot-loop') return;
    if (upgraded && boot === 'booted')
      lab.record('upgrade-finished', node.name, `running Talos ${node.talosVersion}`);
    const staged = lab.stagedConfigs.get(node.name);
    if (staged !== undefined) {
      lab.machineConfigs.set(node.name, staged);
      lab.stagedConfigs.delete(node.name);
    }
    await lab.powerOn(node, { ready: !(upgraded && lab.fire('not-ready-after-upgrade', node)) });
  })().catch((error: unknown) => lab.record('lab-error', node.name, `lab reboot failed: ${String(error)}`));
  lab.record('reboot', node.name);
}
