import { pendingBoot } from './bootSlots.js';
import type { LabCluster } from './labCluster.js';
import { linkStatuses, nicSummary } from '../talos/links.js';

export interface StatusRow {
  node: string;
  role: string;
  ip: string;
  talos: string;
  kubernetes: string;
  vm: string;
  ready: boolean;
  cordoned: boolean;
  pods: number;
  nics: string;
  /** A Talos version installed for the next boot (Talos 1.13's install without a reboot), if any. */
  staged?: string;
}

/** One row per node, from the lab's VMs and the API server's view of them. */
export async function statusRows(lab: LabCluster): Promise<StatusRow[]> {
  const [nodes, pods] = await Promise.all([lab.core.listNode(), lab.core.listPodForAllNamespaces()]);
  return lab.state.nodes.map((node) => {
    const staged = pendingBoot(node);
    const object = nodes.items.find((n) => n.metadata?.name === node.name);
    return {
      node: node.name,
      role: node.role,
      ip: node.ip,
      talos: node.talosVersion,
      kubernetes: object?.status?.nodeInfo?.kubeletVersion?.replace(/^v/, '') ?? '-',
      vm: node.power,
      ready: !!object?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
      cordoned: object?.spec?.unschedulable === true,
      pods: pods.items.filter((p) => p.spec?.nodeName === node.name).length,
      nics: nicSummary(linkStatuses(node, lab.runningConfig(node))),
      ...(staged ? { staged: staged.version } : {}),
    };
  });
}
