import { isNodeReady, type NodeCache } from './nodeCache.js';
import type { LabCluster } from './labCluster.js';
import { raiseEtcdStorage } from '../talos/etcdStorage.js';

/**
 * Watches the invariants an upgrade must never break, while the lab is up: etcd keeps quorum, and no
 * more workers are unavailable (cordoned, NotReady or gone) than the policy allows. It also puts
 * each cordon and uncordon of its cluster's nodes on the timeline, as the shared node cache sees it.
 */
export function startMonitor(lab: LabCluster, nodes: NodeCache, intervalMs = 500): () => void {
  const mine = new Set(lab.state.nodes.map((n) => n.name));
  nodes.onChange((node, before, deleted) => {
    const name = node.metadata?.name ?? '';
    // A Node deleted by hand has no cordon left to undo; a rebuilt VM's kubelet registers into the
    // old Node, cordon included.
    if (!mine.has(name) || deleted) return;
    const now = node.spec?.unschedulable === true;
    if (now !== (before?.spec?.unschedulable === true)) lab.record(now ? 'cordoned' : 'uncordoned', name);
  });
  const tick = () => {
    // Quorum is a majority of the voters: a learner has no vote, and its health counts for nothing.
    const voters = lab.etcdMembers().filter((m) => !m.etcd?.learner);
    const healthy = voters.filter((m) => lab.etcdHealthy(m)).length;
    if (voters.length > 0 && healthy <= voters.length / 2) {
      lab.violate('etcd-quorum', `${healthy} of ${voters.length} etcd voters healthy`);
    }
    const unavailable = lab.state.nodes
      .filter((n) => n.role === 'worker')
      .filter((n) => {
        const object = nodes.get(n.name);
        return !object || !isNodeReady(object) || object.spec?.unschedulable === true;
      })
      .map((n) => n.name);
    if (unavailable.length > lab.state.maxUnavailableWorkers) {
      lab.violate(
        'workers-unavailable',
        `${unavailable.length} workers unavailable (allowed ${lab.state.maxUnavailableWorkers}): ${unavailable.join(', ')}`,
      );
    }
  };
  const timer = setInterval(tick, intervalMs);
  // etcd's leader raises the cluster's (and storage) version every 4 s (lab/talos/etcdStorage.ts).
  const leader = setInterval(() => raiseEtcdStorage(lab), 4000);
  return () => {
    clearInterval(timer);
    clearInterval(leader);
  };
}

export interface LabReport {
  cluster: string;
  ok: boolean;
  violations: LabCluster['violations'];
  finalChecks: { cordoned: string[]; versions: Record<string, string[]>; notRunning: string[] };
  vms: Array<{ node: string; talosVersion: string; destroyed: number; created: number }>;
  timeline: LabCluster['timeline'];
}

/** The end-of-run view: the recorded violations plus what must hold at the end (none cordoned, one version). */
export async function buildReport(lab: LabCluster): Promise<LabReport> {
  const nodes = await lab.core.listNode();
  // The API server may hold a whole fleet: only this cluster's nodes count.
  const mine = new Set(lab.state.nodes.map((n) => n.name));
  const cordoned = nodes.items
    .filter((n) => n.spec?.unschedulable && mine.has(n.metadata?.name ?? ''))
    .map((n) => n.metadata?.name ?? '');
  const versions: Record<string, string[]> = {};
  for (const node of lab.state.nodes) (versions[node.talosVersion] ??= []).push(node.name);
  const notRunning = lab.state.nodes
    .filter((n) => n.power !== 'running')
    .map((n) => `${n.name} (${n.power})`);
  return {
    cluster: lab.state.cluster,
    ok:
      lab.violations.length === 0 &&
      cordoned.length === 0 &&
      Object.keys(versions).length === 1 &&
      notRunning.length === 0,
    violations: lab.violations,
    finalChecks: { cordoned, versions, notRunning },
    vms: lab.state.nodes.map((n) => ({
      node: n.name,
      talosVersion: n.talosVersion,
      destroyed: n.destroyedCount,
      created: n.createdCount,
    })),
    timeline: lab.timeline,
  };
}
