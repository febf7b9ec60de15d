import semver from 'semver';

/**
 * Pure decisions a node run takes on what it has read: whether etcd can spare a member, and what a
 * node lost across its upgrade. Kept out of the workflow so they are tested as tables.
 */

/** An etcd member as the quorum decisions need it: a node name where known, else its hostname. */
export interface QuorumMember {
  node?: string;
  hostname: string;
  /** A learner holds no vote: Talos adds every joining control plane as one and promotes it later. */
  learner?: boolean;
}

/** The cluster's etcd as read: its members and the names of those that answered healthy. */
export interface QuorumView {
  members: QuorumMember[];
  healthy: string[];
}

/**
 * Whether the voters other than `node` hold quorum on their own: taking `node` down (a reboot, a VM
 * recreated) must never be what loses etcd. A node that is not a voter (no member, or a learner)
 * takes no vote from etcd.
 */
export function othersHoldQuorum(view: QuorumView, node: string): boolean {
  const voting = voters(view.members);
  if (!voting.some((m) => m.node === node)) return true;
  return healthyOthers(view, node) > voting.length / 2;
}

/** How many voters other than `node` answer healthy (for the refusal's message). */
export function healthyOthers(view: QuorumView, node: string): number {
  return voters(view.members).filter((m) => m.node !== node && view.healthy.includes(m.node ?? m.hostname))
    .length;
}

/** The members that vote: quorum is a majority of these, whatever the learners answer. */
export function voters<M extends QuorumMember>(members: M[]): M[] {
  return members.filter((m) => !m.learner);
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
