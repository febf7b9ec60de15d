import { CoreV1Api } from '@kubernetes/client-node';
import { finalStateProblems, type FinalStateView } from '../domain/index.js';
import { heartbeat } from './activityContext.js';
import type { ActivityDeps, ClusterHandle } from './deps.js';
import { retryable } from './errors.js';
import { talosActivities } from './talos.js';

/**
 * The end of a run, proven: the nodes it took are Ready, uncordoned and on the target (Talos, and
 * Kubernetes when it upgraded Kubernetes), and etcd's voters are exactly the inventory's controllers.
 * A read that fails is retried; what it reads is the verdict, as sentences (none: all is well).
 */
export function finalStateActivities(deps: ActivityDeps, cluster: (name: string) => ClusterHandle) {
  const talos = talosActivities(deps, cluster);

  async function verifyFinalState(input: {
    cluster: string;
    nodes: string[];
    talos: string;
    kubernetes?: string;
  }): Promise<{ problems: string[] }> {
    const c = cluster(input.cluster);
    heartbeat({ step: 'reading the nodes, their versions and etcd' });
    const [objects, versions, etcd] = await Promise.all([
      c.kc
        .makeApiClient(CoreV1Api)
        .listNode()
        .catch((error: unknown) => {
          throw retryable('KubernetesUnavailable', `listing the Nodes of ${c.name}: ${String(error)}`);
        }),
      talos.getTalosVersions({ cluster: input.cluster }),
      talos.checkEtcdHealth({ cluster: input.cluster }),
    ]);
    const view: FinalStateView = {
      talos: input.talos,
      ...(input.kubernetes ? { kubernetes: input.kubernetes } : {}),
      nodes: input.nodes.map((name) => {
        const object = objects.items.find((n) => n.metadata?.name === name);
        return {
          name,
          ...(versions[name] ? { talos: versions[name] } : {}),
          ...(object
            ? {
                kubernetes: {
                  ready: !!object.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True'),
                  cordoned: object.spec?.unschedulable === true,
                  kubelet: object.status?.nodeInfo?.kubeletVersion ?? 'unknown',
                },
              }
            : {}),
        };
      }),
      controllers: c.inventory.nodes.filter((n) => n.role === 'controlplane').map((n) => n.name),
      etcd: {
        voters: etcd.members.filter((m) => !m.learner).map((m) => m.node ?? m.hostname),
        learners: etcd.learners,
        unhealthy: etcd.unhealthy.map((u) => u.node),
      },
    };
    return { problems: finalStateProblems(view) };
  }

  return { verifyFinalState };
}
