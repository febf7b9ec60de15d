import semver from 'semver';

/**
 * Pure decisions a node run takes on what it has read: whether etcd can spare a member, and what a
 * node lost across its upgrade. Kept out of the workflow so they are tested as tables.
 */

/** An etcd member as the quorum decisions need it: a node name where known, else its hostname. */
export interface QuorumMember {
  node?: string;
  hostname: string;
}

/** The cluster's etcd as read: its members and the names of those that answered healthy. */
export interface QuorumView {
  members: QuorumMember[];
  healthy: string[];
}

/**
 * Whether the members other than `node` hold quorum on their own: taking `node` down (a reboot, a VM
 * recreated) must never be what loses etcd. A node that is not a member takes nothing from etcd.
 */
export function othersHoldQuorum(view: QuorumView, node: string): boolean {
  if (!view.members.some((m) => m.node === node)) return true;
  return healthyOthers(view, node) > view.members.length / 2;
}

/** How many members other than `node` answer healthy (for the refusal's message). */
export function healthyOthers(view: QuorumView, node: string): number {
  return view.members.filter((m) => m.node !== node && view.healthy.includes(m.node ?? m.hostname)).length;
}

export interface NodeMarks {
  labels: Record<string, string>;
  taints: Array<{ key: string; effect: string }>;
}

/** Labels whose value changed or went, and taints gone, between two reads of a Node. */
export function lostMetadata(before: NodeMarks, after: NodeMarks): { labels: string[]; taints: string[] } {
  return {
    labels: Object.entries(before.labels)
      .filter(([key, value]) => after.labels[key] !== value)
      .map(([key]) => key),
    taints: before.taints
      .filter((t) => !after.taints.some((a) => a.key === t.key && a.effect === t.effect))
      .map((t) => t.key),
  };
}

/**
 * Whether a node that reports `running` needs nothing from a hop to `target`: it runs the target, or a
 * newer release (a mixed cluster after a halted run): a hop never takes a node back.
 */
export function atOrPast(running: string | undefined, target: string): boolean {
  const valid = running ? semver.valid(running.replace(/^v/, '')) : null;
  return valid !== null && semver.gte(valid, target);
}
