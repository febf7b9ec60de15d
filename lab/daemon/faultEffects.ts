import { spawn, type ChildProcess } from 'node:child_process';
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AppsV1Api, CustomObjectsApi, PolicyV1Api } from '@kubernetes/client-node';
import { cephStatus, writeAddonStatus } from '../cluster/addonObjects.js';
import { ADDON_CRDS } from '../cluster/crds.js';
import { gpuPatch } from '../repo/labRepository.js';
import type { Fault, FaultKind } from '../state/faults.js';
import type { LabCluster } from './labCluster.js';
import { NEARFULL } from '../cluster/rookCeph.js';
import { applyWorkloadFaults, isWorkloadFault } from './workloadFaults.js';

export interface FaultRequest {
  kind: FaultKind;
  node?: string;
  version?: string;
  times?: number;
  seconds?: number;
  daemonSet?: string;
}

const BLOCKER_NAMESPACE = 'apps';
/** How to release each held Terraform lock, by fault id. */
const lockReleases = new Map<number, () => void>();

function blockerName(node: string): string {
  return `drain-blocker-${node}`;
}

/** How long `terraform console` may take to start and take the state lock. */
const LOCK_TAKEN_WITHIN_MS = 30_000;

/**
 * Terraform holds the state lock for as long as `terraform console` runs: another operator at work.
 * The fault is answered once the lock is held (its lock-info file written), so a test that adds it
 * can act at once rather than guess how long the console takes to start on a loaded machine.
 */
async function holdTerraformLock(lab: LabCluster, fault: Fault): Promise<void> {
  const { terraform } = lab.repo;
  const spawnedAt = Date.now();
  const child: ChildProcess = spawn(terraform.binary, ['console'], {
    cwd: terraform.dir,
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  // A console that cannot start is seen by the wait below (it exits); its error must not end the lab.
  child.on('error', () => undefined);
  const release = () => {
    lockReleases.delete(fault.id);
    // Closing its input ends the console and with it the lock; a kill makes sure.
    child.stdin?.end();
    child.kill('SIGKILL');
  };
  lockReleases.set(fault.id, release);
  // Terraform writes the file when it takes the lock. An earlier console, killed, left its own behind:
  // only one written since this console started counts.
  const lockInfo = join(terraform.dir, '.terraform.tfstate.lock.info');
  const taken = () =>
    stat(lockInfo).then(
      (info) => info.mtimeMs >= spawnedAt,
      () => false,
    );
  const deadline = spawnedAt + LOCK_TAKEN_WITHIN_MS;
  const gone = () => child.exitCode !== null || child.signalCode !== null;
  const drop = () => {
    release();
    lab.faults = lab.faults.filter((f) => f !== fault);
  };
  const fail = (why: string) => {
    drop();
    return new Error(`terraform console in ${terraform.dir} ${why}`);
  };
  // Each look follows an await, during which the fault may have been cleared (which ends the console).
  for (;;) {
    const held = await taken();
    if (!lab.faults.includes(fault))
      throw fail('was stopped: the fault was cleared before the lock was taken');
    // Gone with the file written: another run wrote it, and this console gave up.
    if (gone()) throw fail(held ? 'ended: another run holds the state lock' : 'did not take the state lock');
    if (held) break;
    if (Date.now() > deadline) throw fail('did not take the state lock');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const timer = setTimeout(
    () => {
      drop();
      lab.record('fault-cleared', undefined, 'terraform-lock released');
    },
    (fault.seconds ?? 20) * 1000,
  );
  timer.unref();
  lockReleases.set(fault.id, () => {
    clearTimeout(timer);
    release();
  });
}

/**
 * The `ceph-warn` fault on a cluster whose Ceph the lab does not run (external Ceph): its CephCluster
 * reports a nearly full OSD. On Rook-Ceph the lab's Rook (lab/cluster/rookCeph.ts) writes its status
 * again at once.
 */
async function cephHealth(lab: LabCluster, warn: boolean): Promise<void> {
  if (lab.rookCeph) return lab.rookCeph();
  const custom = lab.kc.makeApiClient(CustomObjectsApi);
  const status = cephStatus(warn ? [NEARFULL] : []);
  await writeAddonStatus(custom, ADDON_CRDS.cephCluster, 'rook-ceph', 'rook-ceph', status).catch(
    (error: unknown) => {
      if ((error as { code?: number }).code !== 404) throw error;
    },
  );
}

async function writeGpuPatches(
  lab: LabCluster,
  node: string | undefined,
  withEtcPath: boolean,
): Promise<void> {
  for (const [name, files] of Object.entries(lab.repo.gpuPatches)) {
    if (node && node !== name) continue;
    for (const file of files) await writeFile(join(lab.repo.dir, file), gpuPatch(withEtcPath));
  }
}

async function blockDrain(lab: LabCluster, node: string): Promise<void> {
  const apps = lab.kc.makeApiClient(AppsV1Api);
  const policy = lab.kc.makeApiClient(PolicyV1Api);
  const name = blockerName(node);
  const labels = { app: name };
  await apps.createNamespacedDeployment({
    namespace: BLOCKER_NAMESPACE,
    body: {
      metadata: { name, labels },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            nodeSelector: { 'kubernetes.io/hostname': node },
            tolerations: [{ operator: 'Exists' }],
            containers: [
              {
                name: 'main',
                image: 'docker.io/library/postgres:17',
                resources: { requests: { cpu: '10m' } },
              },
            ],
          },
        },
      },
    },
  });
  await policy.createNamespacedPodDisruptionBudget({
    namespace: BLOCKER_NAMESPACE,
    body: { metadata: { name }, spec: { selector: { matchLabels: labels }, maxUnavailable: 0 } },
  });
}

async function unblockDrain(lab: LabCluster, node: string): Promise<void> {
  const ignore404 = (error: unknown) => {
    if ((error as { code?: number }).code !== 404) throw error;
  };
  await lab.kc
    .makeApiClient(PolicyV1Api)
    .deleteNamespacedPodDisruptionBudget({ name: blockerName(node), namespace: BLOCKER_NAMESPACE })
    .catch(ignore404);
  await lab.kc
    .makeApiClient(AppsV1Api)
    .deleteNamespacedDeployment({ name: blockerName(node), namespace: BLOCKER_NAMESPACE })
    .catch(ignore404);
}

/** Adds a fault and makes what it stands for true in the world (pods, files, locks, objects). */
export async function applyFault(lab: LabCluster, request: FaultRequest): Promise<Fault> {
  const node = request.node ? lab.node(request.node) : undefined;
  if (request.node && !node) throw new Error(`no lab node "${request.node}"`);
  if (request.kind === 'pdb-blocks-drain' && !node) throw new Error('pdb-blocks-drain needs --node');
  if (isWorkloadFault(request.kind) && !node) throw new Error(`${request.kind} needs --node`);
  const fault = lab.addFault({
    kind: request.kind,
    ...(node ? { node: node.name } : {}),
    ...(request.version ? { version: request.version.replace(/^v/, '') } : {}),
    ...(request.times !== undefined ? { remaining: request.times } : {}),
    ...(request.seconds !== undefined ? { seconds: request.seconds } : {}),
    ...((request.kind === 'pod-crashloop' || request.kind === 'pod-not-ready') && request.daemonSet
      ? { daemonSet: request.daemonSet }
      : {}),
    ...(isWorkloadFault(request.kind) && node?.bootId ? { bootId: node.bootId } : {}),
  });
  if (fault.kind === 'terraform-lock') await holdTerraformLock(lab, fault);
  if (fault.kind === 'ceph-warn') await cephHealth(lab, true);
  if (fault.kind === 'gpu-patch-etc') await writeGpuPatches(lab, fault.node, true);
  if (fault.kind === 'pdb-blocks-drain' && fault.node) await blockDrain(lab, fault.node);
  if (isWorkloadFault(fault.kind) && node) await applyWorkloadFaults(lab, node, { changed: [fault] });
  return fault;
}

export async function clearFault(lab: LabCluster, kind?: FaultKind): Promise<Fault[]> {
  const cleared = lab.clearFaults(kind);
  for (const fault of cleared) {
    if (fault.kind === 'terraform-lock') lockReleases.get(fault.id)?.();
    if (fault.kind === 'ceph-warn') await cephHealth(lab, false);
    if (fault.kind === 'gpu-patch-etc') await writeGpuPatches(lab, fault.node, false);
    if (fault.kind === 'pdb-blocks-drain' && fault.node) await unblockDrain(lab, fault.node);
  }
  // Once per node: flux and argocd are cluster-wide, and each call writes them.
  const nodes = new Set(cleared.filter((f) => isWorkloadFault(f.kind)).map((f) => f.node ?? ''));
  for (const name of nodes) {
    const node = lab.node(name);
    if (node) await applyWorkloadFaults(lab, node, { changed: cleared });
  }
  return cleared;
}
