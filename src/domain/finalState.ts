import { compareVersions, parseVersion } from './version.js';

/**
 * What a run leaves behind, read at its end: the nodes it took, as Kubernetes and Talos report them,
 * and etcd's members. The health checks ask whether the cluster serves; this asks whether the run did
 * what it said: every node back, uncordoned, on the target, and every controller a voting member.
 */
export interface FinalStateView {
  talos: string;
  /** The Kubernetes target, when the run upgraded Kubernetes. */
  kubernetes?: string;
  nodes: Array<{
    name: string;
    /** The Talos version the node answered with; absent when it did not answer. */
    talos?: string;
    /** Absent when the node has no Node object. */
    kubernetes?: { ready: boolean; cordoned: boolean; kubelet: string };
  }>;
  /** Every controller of the inventory, the run's or not: etcd's members are all of them. */
  controllers: string[];
  etcd: {
    /** Voting members by inventory node name, or by hostname when no inventory node holds the member. */
    voters: string[];
    learners: string[];
    unhealthy: string[];
  };
}

/** Older than the target, or no version at all (a kubelet that reports none). */
function olderThan(actual: string, target: string): boolean {
  try {
    return compareVersions(parseVersion(actual), target) < 0;
  } catch {
    return true;
  }
}

/** One sentence per thing that is not as the run should have left it; none when all is well. */
export function finalStateProblems(view: FinalStateView): string[] {
  const problems: string[] = [];
  for (const node of view.nodes) {
    const k8s = node.kubernetes;
    if (!k8s) problems.push(`${node.name} has no Node object in Kubernetes`);
    else {
      if (!k8s.ready) problems.push(`${node.name} is not Ready`);
      if (k8s.cordoned) problems.push(`${node.name} is still cordoned`);
      const kubelet = k8s.kubelet.replace(/^v/, '');
      if (view.kubernetes && olderThan(kubelet, view.kubernetes))
        problems.push(`${node.name}'s kubelet is ${kubelet}, older than ${view.kubernetes}`);
    }
    // A node past the target is as the run found it: nothing older than a node runs is installed.
    if (node.talos === undefined) problems.push(`${node.name} did not answer for its Talos version`);
    else if (olderThan(node.talos, view.talos))
      problems.push(`${node.name} runs Talos ${node.talos}, older than ${view.talos}`);
  }
  const { voters, learners, unhealthy } = view.etcd;
  if (voters.length + learners.length === 0) {
    problems.push("etcd's members could not be read: no controller's etcd answered");
    return problems;
  }
  for (const controller of view.controllers) {
    if (learners.includes(controller)) problems.push(`${controller} is an etcd learner, without a vote`);
    else if (!voters.includes(controller)) problems.push(`${controller} is not an etcd member`);
  }
  for (const member of [...voters, ...learners].filter((m) => !view.controllers.includes(m)))
    problems.push(`etcd has a member that is no controller of the inventory: ${member}`);
  for (const member of unhealthy) problems.push(`etcd member ${member} is unhealthy`);
  return problems;
}
