import type { LabCluster } from './labCluster.js';

/**
 * Watches the invariants an upgrade must never break, while the lab is up: etcd keeps quorum, and no
 * more workers are unavailable (cordoned, NotReady or gone) than the policy allows. It also puts
 * cordons and uncordons on the timeline.
 */
export function startMonitor(lab: LabCluster, intervalMs = 500): () => void {
  let running = false;
  // Cordons seen at the last tick, so the timeline shows each cordon and uncordon (sampled: a
  // cordon shorter than one tick may go unseen).
  const cordoned = new Map<string, boolean>();
  const tick = async () => {
    if (running) return;
    running = true;
    try {
      const members = lab.etcdMembers();
      const healthy = members.filter((m) => lab.etcdHealthy(m)).length;
      if (members.length > 0 && healthy <= members.length / 2) {
        lab.violate('etcd-quorum', `${healthy} of ${members.length} etcd members healthy`);
      }
      const nodes = await lab.core.listNode();
      for (const object of nodes.items) {
        const name = object.metadata?.name ?? '';
        const now = object.spec?.unschedulable === true;
        const before = cordoned.get(name) ?? false;
        if (now !== before) lab.record(now ? 'cordoned' : 'uncordoned', name);
        cordoned.set(name, now);
      }
      // A destroyed VM's Node is gone; its successor starts with no cordon to undo.
      const present = new Set(nodes.items.map((o) => o.metadata?.name ?? ''));
      for (const name of [...cordoned.keys()]) if (!present.has(name)) cordoned.delete(name);
      const unavailable = lab.state.nodes
        .filter((n) => n.role === 'worker')
        .filter((n) => {
          const object = nodes.items.find((o) => o.metadata?.name === n.name);
          const ready = object?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
          return !object || !ready || object.spec?.unschedulable === true;
        })
        .map((n) => n.name);
      if (unavailable.length > lab.state.maxUnavailableWorkers) {
        lab.violate(
          'workers-unavailable',
          `${unavailable.length} workers unavailable (allowed ${lab.state.maxUnavailableWorkers}): ${unavailable.join(', ')}`,
        );
      }
    } catch {
      // The API server can be briefly unreachable; the next tick checks again.
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void tick(), intervalMs);
  return () => clearInterval(timer);
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
  const cordoned = nodes.items.filter((n) => n.spec?.unschedulable).map((n) => n.metadata?.name ?? '');
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
