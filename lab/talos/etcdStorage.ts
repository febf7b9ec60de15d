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
 * etcd's storage version: what its leader last raised it to, else the lowest version the members run.
 * The leader sets the cluster version to the lowest version of its members every 4 s, once every
 * member answers (server/etcdserver/version/monitor.go UpdateClusterVersionIfNeeded, etcd v3.6.12 and
 * v3.7.1), and the storage version follows it (UpdateStorageVersionIfNeeded); only etcd's downgrade
 * brings either down (`etcd downgrade enable`), which the lab's Talos API does not serve.
 */
export function etcdStorageVersion(lab: LabCluster): string {
  return lab.state.etcdStorage ?? lowestMemberVersion(lab) ?? '3.6.0';
}

/** The leader's 4-second round (the lab's monitor calls it): a raise when every member answers. */
export function raiseEtcdStorage(lab: LabCluster): void {
  const members = lab.etcdMembers();
  if (members.length === 0 || !members.every((m) => lab.etcdHealthy(m))) return;
  const lowest = lowestMemberVersion(lab);
  const now = etcdStorageVersion(lab);
  if (!lowest || compare(minorOf(lowest), minorOf(now)) < 0) return;
  if (lab.state.etcdStorage === lowest) return;
  const raised = lab.state.etcdStorage !== undefined && lowest !== lab.state.etcdStorage;
  lab.state.etcdStorage = lowest;
  if (raised) lab.record('etcd-storage-raised', undefined, lowest);
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
  if (compare(minorOf(running), minorOf(storage)) >= 0) return undefined;
  return fresh
    ? `etcd ${running}: invalid downgrade; server version is lower than determined cluster version (${storage})`
    : `etcd ${running}: version "${storage}" is not supported`;
}
