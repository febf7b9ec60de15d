import { TalosApiError, type LabCluster } from '../daemon/labCluster.js';
import type { LabNode } from '../state/labState.js';

/** etcd's own version on the lab's control planes, as Talos 1.11/1.12 ship it. */
const ETCD_VERSION = '3.6.5';

/**
 * machined's etcd calls need a control plane whose etcd runs: workers are refused with machined's
 * words, and a member that is down or unhealthy does not answer (real machined waits for the
 * etcd client until the caller gives up; the lab gives up at once).
 */
export function requireEtcd(lab: LabCluster, node: LabNode, what: string): void {
  if (node.role !== 'controlplane')
    throw new TalosApiError(node.ip, 'Unimplemented', `${what} is only available on control plane nodes`);
  if (!lab.etcdHealthy(node))
    throw new TalosApiError(
      node.ip,
      'DeadlineExceeded',
      'failed to create etcd client: context deadline exceeded',
    );
}

export function etcdStatus(lab: LabCluster, node: LabNode) {
  requireEtcd(lab, node, 'etcd status');
  // A learner cannot lead: the leader is a voter (etcd's raft gives learners no vote).
  const leader = lab.etcdMembers().find((m) => !m.etcd?.learner && lab.etcdHealthy(m));
  return {
    memberId: node.etcd?.id ?? '',
    leader: leader?.etcd?.id ?? '',
    dbSize: 24_117_248,
    dbSizeInUse: 11_051_008,
    raftIndex: 2_418_091 + lab.timeline.length,
    raftTerm: 14,
    protocolVersion: ETCD_VERSION,
    storageVersion: '3.6.0',
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
