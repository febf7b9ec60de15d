import { parseAllDocuments } from 'yaml';
import type { LabCluster } from '../daemon/labCluster.js';
import type { LabNode } from '../state/labState.js';

/**
 * The etcd each Talos release the lab serves runs unless the config pins another (pkg/machinery/constants
 * DefaultEtcdVersion at each tag; 1.14.0-rc.1 and 1.14.1 both 3.7.1). Talos 1.14 supports etcd 3.6 and later only.
 */
const DEFAULT_ETCD: Record<string, string> = {
  '1.10.8': '3.5.21',
  '1.10.9': '3.5.26',
  '1.11.0': '3.6.4',
  '1.11.3': '3.6.5',
  '1.11.4': '3.6.5',
  '1.11.5': '3.6.5',
  '1.12.0': '3.6.7',
  '1.12.1': '3.6.7',
  '1.12.5': '3.6.8',
  '1.12.9': '3.6.11',
  '1.13.0': '3.6.9',
  '1.13.4': '3.6.12',
  '1.13.8': '3.6.12',
  '1.14.0': '3.7.1',
  '1.14.1': '3.7.1',
};

/**
 * The etcd version a control plane runs: the tag of the image its config pins (`cluster.etcd.image`,
 * EtcdConfig.Image in config/types/v1alpha1 at v1.14.1), else its Talos release's default.
 */
export function etcdVersion(lab: LabCluster, node: LabNode): string {
  for (const doc of parseAllDocuments(lab.runningConfig(node) ?? '')) {
    const image = (doc.toJS() as { cluster?: { etcd?: { image?: unknown } } } | null)?.cluster?.etcd?.image;
    const tag = typeof image === 'string' ? /:v?(\d+\.\d+\.\d+)/.exec(image)?.[1] : undefined;
    if (tag) return tag;
  }
  return DEFAULT_ETCD[node.talosVersion] ?? '3.6.12';
}

type Minor = [major: number, minor: number];

function minorOf(version: string): Minor {
  const [major = 3, minor = 6] = version.split('.').map(Number);
  return [major, minor];
}

const compare = (a: Minor, b: Minor) => a[0] - b[0] || a[1] - b[1];

/** The lowest major.minor the members run, as X.Y.0. */
function lowestMemberVersion(lab: LabCluster): string | undefined {
  const lowest = lab
    .etcdMembers()
    .map((m) => minorOf(etcdVersion(lab, m)))
    .sort(compare)[0];
  return lowest && `${lowest[0]}.${lowest[1]}.0`;
}

/**
 * etcd's storage version: what its leader last set it to, else the lowest version the members run.
 * The leader sets the cluster version to the lowest version of its members every 4 s, once every
 * member answers (server/etcdserver/version/monitor.go UpdateClusterVersionIfNeeded, etcd v3.6.12 and
 * v3.7.1), and the storage version follows it (UpdateStorageVersionIfNeeded); only etcd's downgrade
 * brings either down (`etcd downgrade enable`, etcdDowngrade below).
 */
export function etcdStorageVersion(lab: LabCluster): string {
  return lab.state.etcdStorage ?? lowestMemberVersion(lab) ?? '3.6.0';
}

/**
 * The leader's 4-second round (the lab's monitor calls it). Without a downgrade: a raise to the lowest
 * version every member runs, once every member answers. With one enabled: the cluster (and storage)
 * version moves to its target while the lowest member runs one minor above it (monitor.go
 * decideClusterVersion with isValidDowngrade, UpdateStorageVersionIfNeeded); once every member runs the
 * target the downgrade ends by itself (CancelDowngradeIfNeeded, checked every 5 s). A member that does
 * not answer holds all of it (its version unknown, nothing is decided).
 */
export function raiseEtcdStorage(lab: LabCluster): void {
  const members = lab.etcdMembers();
  if (members.length === 0 || !members.every((m) => lab.etcdHealthy(m))) return;
  const target = lab.state.etcdDowngrade;
  if (target) {
    const [major, minor] = minorOf(target);
    const lowest = minorOf(lowestMemberVersion(lab) ?? target);
    if (lowest[0] === major && lowest[1] === minor + 1 && lab.state.etcdStorage !== `${target}.0`) {
      lab.state.etcdStorage = `${target}.0`;
      lab.record('etcd-storage-raised', undefined, `${target}.0 (downgrade)`);
    }
    if (members.every((m) => etcdVersion(lab, m).startsWith(`${target}.`))) {
      delete lab.state.etcdDowngrade;
      lab.record('etcd-downgrade', undefined, `finished at ${target}`);
    }
    return;
  }
  const lowest = lowestMemberVersion(lab);
  const now = etcdStorageVersion(lab);
  if (!lowest || compare(minorOf(lowest), minorOf(now)) < 0) return;
  if (lab.state.etcdStorage === lowest) return;
  const raised = lab.state.etcdStorage !== undefined && lowest !== lab.state.etcdStorage;
  lab.state.etcdStorage = lowest;
  if (raised) lab.record('etcd-storage-raised', undefined, lowest);
}

/**
 * `etcd downgrade validate|enable|cancel` as etcd answers machined's Downgrade call (etcdserver/version
 * version.go and v3_server.go at v3.7.1): the target must be one minor below the cluster version, one
 * downgrade at a time; cancel ends it and leaves the cluster version where it is (it answers success even
 * with nothing to cancel). The answer is the cluster version, MAJOR.MINOR.
 */
export function etcdDowngrade(
  lab: LabCluster,
  action: 'validate' | 'enable' | 'cancel',
  version: string,
): { clusterVersion: string } | { error: string } {
  const cluster = minorOf(etcdStorageVersion(lab));
  const clusterVersion = `${cluster[0]}.${cluster[1]}`;
  if (action === 'cancel') {
    if (lab.state.etcdDowngrade) lab.record('etcd-downgrade', undefined, 'cancelled');
    delete lab.state.etcdDowngrade;
    return { clusterVersion };
  }
  const [major, minor] = minorOf(version);
  if (major !== cluster[0] || minor !== cluster[1] - 1)
    return { error: 'etcdserver: invalid downgrade target version' };
  if (lab.state.etcdDowngrade) return { error: 'etcdserver: cluster has a downgrade job in progress' };
  if (action === 'enable') {
    lab.state.etcdDowngrade = `${major}.${minor}`;
    lab.record('etcd-downgrade', undefined, `enabled to ${major}.${minor}`);
  }
  return { clusterVersion };
}

/**
 * Whether this boot's etcd starts: an etcd older than the storage version does not. On the data dir
 * it kept (a reboot) it refuses the version (server/storage/schema/schema.go Validate); as a new member
 * (a recreated VM) it panics on the cluster version (server/etcdserver/api/membership/downgrade.go).
 * machined restarts it again and again; the member stays unhealthy, `etcd status` on it does not answer.
 */
export function etcdStartRefusal(lab: LabCluster, node: LabNode, fresh: boolean): string | undefined {
  if (node.role !== 'controlplane' || !node.etcd?.member) return undefined;
  const storage = etcdStorageVersion(lab);
  const running = etcdVersion(lab, node);
  // During a downgrade a new member accepts only a cluster version one minor above its own
  // (cluster_util.go allowedVersionRange, isCompatibleWithCluster at v3.6.12): before the leader moved
  // the cluster version it joins, after that no new member does.
  if (fresh && lab.state.etcdDowngrade) {
    const [clusterMajor, clusterMinor] = minorOf(storage);
    const [ownMajor, ownMinor] = minorOf(running);
    if (clusterMajor === ownMajor && clusterMinor === ownMinor + 1) return undefined;
    return `etcd ${running}: incompatible with current running cluster (a downgrade is in progress)`;
  }
  if (compare(minorOf(running), minorOf(storage)) >= 0) return undefined;
  return fresh
    ? `etcd ${running}: invalid downgrade; server version is lower than determined cluster version (${storage})`
    : `etcd ${running}: version "${storage}" is not supported`;
}
