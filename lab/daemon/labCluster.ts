import { randomUUID } from 'node:crypto';
import { writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api, StorageV1Api, type KubeConfig } from '@kubernetes/client-node';
import { registerNode, setPowerAnnotation, writeNodeStatus } from '../cluster/nodeObjects.js';
import { createStaticPods } from '../cluster/staticPods.js';
import type { Fault, FaultKind } from '../state/faults.js';
import { ONE_SHOT } from '../state/faults.js';
import type { LabNode, LabState } from '../state/labState.js';
import type { TimelineEvent, TimelineKind, Violation } from '../state/timeline.js';
import { etcdStartRefusal } from '../talos/etcdStorage.js';
import { configFiles } from './machineFiles.js';
import { applyWorkloadFaults, gpuResources } from './workloadFaults.js';

export interface LabTiming {
  /** Seconds a Talos reboot keeps the node down. */
  rebootSeconds: number;
  /** Seconds from `terraform apply` to the new VM answering in maintenance mode. */
  vmBootSeconds: number;
  /**
   * Seconds a template build takes (Proxmox downloads the image and converts a VM: minutes in a homelab).
   * 0 by default, as the lab's other steps are scaled down; the fault matrix sets it so the run's
   * RebuildingTemplates phase lasts long enough to be acted on from outside.
   */
  templateBuildSeconds: number;
  /** Seconds a node takes to pull an installer image (both upgrade paths pull one). */
  imagePullSeconds: number;
  /** Seconds the installer takes to write the other boot slot. */
  installSeconds: number;
  /**
   * Seconds from a boot to the Node turning Ready: the kubelet starts, registers and reports after
   * Talos's services (30-90 s on a real node). 1 by default, scaled down as the lab's reboot is; the
   * fault matrix sets 8 so the wait for Ready lasts long enough to be acted on from outside.
   */
  kubeletReadySeconds: number;
  /**
   * Seconds a Node stays Ready after its kubelet stopped (a reboot, a destroyed VM): nothing tells the
   * API server, and kube-controller-manager marks it only when the kubelet's last status is older than
   * node-monitor-grace-period (50 s at kubernetes v1.34.1, pkg/controller/nodelifecycle
   * node_lifecycle_controller.go tryUpdateNodeHealth). 2 by default, scaled down as the lab's reboot
   * is; a new boot's kubelet reports NotReady at once whatever this is.
   */
  nodeGraceSeconds: number;
}

/** A Talos API error as machined answers it; `code` is the gRPC code name. */
export class TalosApiError extends Error {
  constructor(
    readonly node: string,
    readonly code:
      | 'Unavailable'
      | 'FailedPrecondition'
      | 'InvalidArgument'
      | 'NotFound'
      | 'Unknown'
      | 'Unimplemented'
      | 'Internal'
      | 'DeadlineExceeded'
      | 'PermissionDenied'
      /** The lab's own: the real call would block until its caller gives up (lab/talos/etcd.ts). */
      | 'Hang',
    readonly description: string,
  ) {
    super(`rpc error: code = ${code} desc = ${description}`);
  }
}

/** Where the lab's repository lives and what in it the faults touch. */
export interface LabRepo {
  dir: string;
  terraform: { binary: string; dir: string };
  gpuPatches: Record<string, string[]>;
}

/** Switches a node's Talos API (lab/talos-api) as its VM powers off, reboots or boots. */
export interface TalosApiControl {
  /** `ready`: whether the node's kubelet is Ready, which machined's machine status waits for. */
  setMode(ip: string, mode: TalosApiMode, ready: boolean): Promise<void>;
}

/** What a node's address answers: nothing, the maintenance API, apid, or another machine (a fault). */
export type TalosApiMode = 'off' | 'maintenance' | 'running' | 'foreign';

export function talosApiMode(power: LabNode['power'], foreign = false): TalosApiMode {
  if (foreign && power === 'maintenance') return 'foreign';
  return power === 'running' ? 'running' : power === 'maintenance' ? 'maintenance' : 'off';
}

// Fault ids are unique across the clusters of one lab, so a fault's effects can be keyed by its id.
let nextFaultId = 1;

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The lab's single source of truth: the simulated VMs, Talos and etcd state, faults and the timeline.
 * Only the daemon holds it, so Talos API calls and Terraform providers never race on a file.
 */
export class LabCluster {
  readonly core: CoreV1Api;
  private readonly storage: StorageV1Api;
  readonly timeline: TimelineEvent[] = [];
  readonly violations: Violation[] = [];
  faults: Fault[] = [];
  /**
   * Each node's machine config, by node name. Kept out of the state file: like a real cluster's,
   * the configs hold the cluster's secrets.
   */
  readonly machineConfigs = new Map<string, string>();

  /** The config a node runs with: none in maintenance mode, where an applied config waits for the install. */
  runningConfig(node: LabNode): string | undefined {
    return node.power === 'maintenance' ? undefined : this.machineConfigs.get(node.name);
  }
  /** A config applied in mode STAGED, by node name: it becomes the node's config at its next boot. */
  readonly stagedConfigs = new Map<string, string>();
  /** machine.files as each node's last boot in this lab wrote them (lab/daemon/machineFiles.ts). */
  private readonly bootedFiles = new Map<string, Record<string, string>>();

  /** The files on the node: its last boot's, or for a node that has run since before the lab, its config's. */
  bootFiles(node: LabNode): Record<string, string> {
    return this.bootedFiles.get(node.name) ?? configFiles(this.runningConfig(node));
  }

  /** A new VM: nothing written on its disk yet. */
  forgetBootFiles(node: LabNode): void {
    this.bootedFiles.delete(node.name);
  }
  /** Set once the lab's Talos API server runs; before that, nodes start in the mode their state says. */
  talosApi?: TalosApiControl;
  /**
   * Set when the lab runs Rook-Ceph for this cluster (lab/cluster/rookCeph.ts), which owns the
   * CephCluster's status: writes it now (a fault's effect shows at once, not at the next interval).
   */
  rookCeph: (() => Promise<void>) | undefined;

  constructor(
    readonly state: LabState,
    readonly kc: KubeConfig,
    readonly dir: string,
    readonly timing: LabTiming,
    readonly repo: LabRepo,
  ) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.storage = kc.makeApiClient(StorageV1Api);
  }

  persist(): void {
    const file = join(this.dir, 'state.json');
    const body = JSON.stringify(
      { state: this.state, faults: this.faults, timeline: this.timeline, violations: this.violations },
      null,
      2,
    );
    writeFileSync(`${file}.tmp`, body);
    renameSync(`${file}.tmp`, file);
  }

  record(kind: TimelineKind, node?: string, detail?: string): void {
    this.timeline.push({
      at: new Date().toISOString(),
      kind,
      ...(node ? { node } : {}),
      ...(detail ? { detail } : {}),
    });
    this.persist();
  }

  /**
   * A 'breach' is a state the monitor sees on every tick while it lasts: one entry per continuing
   * breach. An 'event' (a power-off, a destroy, an install) is recorded each time it happens.
   */
  violate(invariant: Violation['invariant'], detail: string, kind: 'breach' | 'event' = 'breach'): void {
    const last = this.violations.at(-1);
    if (kind === 'breach' && last && last.invariant === invariant && last.detail === detail) return;
    this.violations.push({ at: new Date().toISOString(), invariant, detail });
    this.record('violation', undefined, `${invariant}: ${detail}`);
  }

  /** Finds a node by IP or name. */
  node(target: string): LabNode | undefined {
    return this.state.nodes.find((node) => node.ip === target || node.name === target);
  }

  controlPlane(): LabNode[] {
    return this.state.nodes.filter((node) => node.role === 'controlplane');
  }

  addFault(fault: Omit<Fault, 'id' | 'addedAt'>): Fault {
    const full: Fault = { ...fault, id: nextFaultId++, addedAt: new Date().toISOString() };
    if (ONE_SHOT.includes(full.kind) && full.remaining === undefined) full.remaining = 1;
    this.faults.push(full);
    this.record(
      'fault-added',
      full.node,
      `${full.kind}${full.remaining !== undefined ? ` x${full.remaining}` : ''}`,
    );
    return full;
  }

  /** The active fault of a kind for a node (or for any node), without consuming it. */
  activeFault(kind: FaultKind, node?: LabNode): Fault | undefined {
    return this.faults.find(
      (fault) => fault.kind === kind && (!fault.node || fault.node === node?.name || fault.node === node?.ip),
    );
  }

  /** Consumes one firing of a fault; returns whether it fired. */
  fire(kind: FaultKind, node?: LabNode): boolean {
    const fault = this.activeFault(kind, node);
    if (!fault) return false;
    if (fault.remaining !== undefined) {
      fault.remaining -= 1;
      if (fault.remaining <= 0) this.faults = this.faults.filter((f) => f !== fault);
    }
    this.record('fault-fired', node?.name, kind);
    return true;
  }

  clearFaults(kind?: FaultKind): Fault[] {
    const cleared = this.faults.filter((fault) => !kind || fault.kind === kind);
    this.faults = this.faults.filter((fault) => !cleared.includes(fault));
    for (const fault of cleared) this.record('fault-cleared', fault.node, fault.kind);
    return cleared;
  }

  /** Whether an etcd member answers healthy right now. */
  etcdHealthy(node: LabNode): boolean {
    return (
      !!node.etcd?.member &&
      !node.etcd.refused &&
      node.power === 'running' &&
      !this.activeFault('etcd-unhealthy', node)
    );
  }

  etcdMembers(): LabNode[] {
    return this.controlPlane().filter((node) => node.etcd?.member);
  }

  /** Each node's lifecycle sections, one after another (see `exclusive`). */
  private readonly lifecycleQueues = new Map<string, Promise<unknown>>();

  /**
   * Runs `section` once the node's earlier sections have ended. A VM's destroy and its asynchronous
   * join both write the node's power, etcd member and Node object over several awaits; interleaved,
   * a join that began before the destroy powered the destroyed VM back on.
   */
  async exclusive<T>(node: LabNode, section: () => Promise<T>): Promise<T> {
    const run = (this.lifecycleQueues.get(node.name) ?? Promise.resolve())
      .catch(() => undefined)
      .then(section);
    this.lifecycleQueues.set(node.name, run);
    return run;
  }

  /** Mode pushes per node, one after another, so the Talos API never sees them out of order. */
  private readonly modeQueues = new Map<string, Promise<void>>();

  /** The VM's power changes, and with it what its Talos API answers. */
  async setPower(node: LabNode, power: LabNode['power'], ready = true): Promise<void> {
    node.power = power;
    if (power === 'running' || power === 'maintenance') node.bootId = randomUUID();
    const api = this.talosApi;
    if (!api) return;
    const push = (this.modeQueues.get(node.ip) ?? Promise.resolve())
      .catch(() => undefined)
      .then(() => api.setMode(node.ip, talosApiMode(power, node.foreign), ready));
    this.modeQueues.set(node.ip, push);
    await push;
  }

  /**
   * The persistent volumes attached to the node (VolumeAttachments, lab/daemon/csiAttacher.ts): a
   * machine that goes down with one still attached loses what its filesystem had not written, and the
   * volume stays claimed by a node that is gone until someone forces it free.
   */
  private async attachedVolumes(node: string): Promise<string[]> {
    const { items } = await this.storage.listVolumeAttachment().catch((error: unknown) => {
      // Unread, the invariant cannot be checked for this power-off: said, not passed in silence.
      this.record('lab-error', node, `reading the VolumeAttachments at its power-off: ${String(error)}`);
      return { items: [] };
    });
    return items
      .filter((va) => va.spec?.nodeName === node && va.status?.attached === true)
      .map((va) => va.spec?.source?.persistentVolumeName ?? va.metadata?.name ?? '');
  }

  /** Each Node's kubelet lifetime: a power-off's late NotReady is for the kubelet it stopped only. */
  private readonly kubeletRuns = new Map<string, number>();

  private nextKubeletRun(node: LabNode): number {
    const run = (this.kubeletRuns.get(node.name) ?? 0) + 1;
    this.kubeletRuns.set(node.name, run);
    return run;
  }

  async powerOff(node: LabNode, power: LabNode['power']): Promise<void> {
    const stopped = this.nextKubeletRun(node);
    const attached = await this.attachedVolumes(node.name);
    if (attached.length > 0)
      this.violate(
        'powered-off-with-volumes',
        `${node.name} ${power === 'destroyed' ? 'destroyed' : 'rebooted'} with ${attached.length} volume(s) attached: ${attached.join(', ')}`,
        'event',
      );
    await this.setPower(node, power);
    this.record('power-off', node.name, power);
    const markNotReady = () =>
      setPowerAnnotation(this.core, node.name, false).catch((error: unknown) => {
        if ((error as { code?: number }).code !== 404) throw error;
      });
    const graceMs = (this.timing.nodeGraceSeconds ?? 0) * 1000;
    if (graceMs === 0) return markNotReady();
    // The Node keeps its last status (Ready) until the grace period ends, unless a kubelet of a new
    // boot has reported meanwhile.
    setTimeout(() => {
      if (this.kubeletRuns.get(node.name) !== stopped) return;
      markNotReady().catch((error: unknown) =>
        this.record('lab-error', node.name, `late NotReady failed: ${String(error)}`),
      );
    }, graceMs).unref();
  }

  /**
   * The node boots: its kubelet reports the running versions and kwok turns it Ready, after
   * timing.kubeletReadySeconds (a later boot or a power-off in between cancels the turn).
   */
  /** A boot into the installed system; `joined`: its etcd member is new (a VM made again), not kept. */
  async powerOn(node: LabNode, options: { ready?: boolean; joined?: boolean } = {}): Promise<void> {
    const ready = options.ready ?? true;
    // First: a late NotReady of the boot before must not land on this one's Ready.
    this.nextKubeletRun(node);
    if (node.etcd) {
      // Each boot's etcd starts, or not, on the cluster's storage version as it is now.
      const refused = etcdStartRefusal(this, node, options.joined === true);
      if (refused) node.etcd.refused = refused;
      else delete node.etcd.refused;
      if (refused) this.record('etcd-refused', node.name, refused);
    }
    await this.setPower(node, 'running', ready);
    this.bootedFiles.set(node.name, configFiles(this.runningConfig(node)));
    this.record('power-on', node.name, `Talos ${node.talosVersion}`);
    // The new kubelet's first status: its boot, NotReady until it is (off first, so that kwok keeps it
    // so); the GPU's device plugin (a DaemonSet pod) registers once the node runs pods again.
    await setPowerAnnotation(this.core, node.name, false);
    await writeNodeStatus(this.core, node, 'keep', { notReady: true });
    await applyWorkloadFaults(this, node, 'boot');
    const boot = node.bootId;
    const turnReady = async () => {
      await writeNodeStatus(this.core, node, gpuResources(this, node));
      // A destroy or reboot while the status was written: that boot never turns Ready.
      if (node.bootId !== boot || node.power !== 'running') return;
      await setPowerAnnotation(this.core, node.name, true);
    };
    const delayMs = (this.timing.kubeletReadySeconds ?? 0) * 1000;
    if (!ready) return;
    if (delayMs === 0) return turnReady();
    setTimeout(() => {
      if (node.bootId !== boot || node.power !== 'running') return;
      turnReady().catch(() => undefined);
    }, delayMs).unref();
  }

  async registerFreshNode(node: LabNode): Promise<void> {
    const hasWorkers = this.state.nodes.some((n) => n.role === 'worker');
    await registerNode(this.core, this.state.cluster, node, hasWorkers && node.role === 'controlplane');
    await createStaticPods(this.core, this.state.cluster, node, this.machineConfigs.get(node.name));
    this.record('node-joined', node.name, `Talos ${node.talosVersion}`);
  }
}
