import { TalosApiError, type LabCluster } from '../daemon/labCluster.js';
import type { LabNode } from '../state/labState.js';
import { etcdStorageVersion, etcdVersion } from './etcdStorage.js';

/**
 * machined's etcd calls need a control plane whose etcd runs: workers are refused with machined's
 * words. `etcd leave` and `remove-member` on a node whose etcd is down fail at once here (the real
 * leave waits minutes for the member id first; the product's own deadline ends it sooner).
 */
export function requireEtcd(lab: LabCluster, node: LabNode, what: string): void {
  requireControlPlane(node, what);
  if (!lab.etcdHealthy(node))
    throw new TalosApiError(
      node.ip,
      'DeadlineExceeded',
      'failed to create etcd client: context deadline exceeded',
    );
}

/**
 * `etcd status`, `etcd members` (talosctl 1.11 to 1.13 ask it QueryLocal) and `etcd snapshot` go through
 * machined's local etcd client, which does not block on its dial (clientv3 with a DialTimeout and no
 * WithBlock: internal/pkg/etcd/etcd.go NewClient/NewLocalClient, v1.11.3 to v1.13.8) and whose calls
 * wait for the connection to be ready. While the node's etcd is not running (it left, never started,
 * crash-loops) the call hangs until its caller gives up; apid's one-to-many answer waits for its
 * slowest node, so one such node holds back `-n a,b,c etcd status` as a whole. The daemon answers
 * `Hang`, and the lab's Talos API waits for the caller's deadline (internal/daemon/daemon.go).
 */
export function requireLocalEtcd(lab: LabCluster, node: LabNode, what: string): void {
  requireControlPlane(node, what);
  if (!lab.etcdHealthy(node))
    throw new TalosApiError(node.ip, 'Hang', `${what}: the node's etcd does not answer`);
}

function requireControlPlane(node: LabNode, what: string): void {
  if (node.role !== 'controlplane')
    throw new TalosApiError(node.ip, 'Unimplemented', `${what} is only available on control plane nodes`);
}

export function etcdStatus(lab: LabCluster, node: LabNode) {
  requireLocalEtcd(lab, node, 'etcd status');
  // A learner cannot lead: the leader is a voter (etcd's raft gives learners no vote).
  const leader = lab.etcdMembers().find((m) => !m.etcd?.learner && lab.etcdHealthy(m));
  return {
    memberId: node.etcd?.id ?? '',
    leader: leader?.etcd?.id ?? '',
    dbSize: 24_117_248,
    dbSizeInUse: 11_051_008,
    raftIndex: 2_418_091 + lab.timeline.length,
    raftTerm: 14,
    protocolVersion: etcdVersion(lab, node),
    storageVersion: etcdStorageVersion(lab),
    isLearner: node.etcd?.learner === true,
    errors: [],
  };
}

/** What a snapshot of the lab's etcd holds: one registry key per node and per namespace. */
export function etcdSnapshotKeys(lab: LabCluster) {
  const keys = [
    ...lab.state.nodes.map((n) => ({
      key: `/registry/minions/${n.name}`,
      value: JSON.stringify({ kind: 'Node', metadata: { name: n.name } }),
    })),
    ...['default', 'kube-system', 'apps'].map((ns) => ({
      key: `/registry/namespaces/${ns}`,
      value: JSON.stringify({ kind: 'Namespace', metadata: { name: ns } }),
    })),
    { key: '/registry/lab/cluster', value: lab.state.cluster },
  ];
  return { revision: 2_418_091 + lab.timeline.length, keys };
}
