import { Watch, type KubeConfig, type V1Node, CoreV1Api } from '@kubernetes/client-node';

type Listener = (node: V1Node, before: V1Node | undefined, deleted: boolean) => void;

/**
 * The API server's Nodes as a list-then-watch cache, shared by every cluster of the lab: the monitor
 * reads it instead of listing all Nodes twice a second per cluster (a fleet of 50 clusters would
 * otherwise list 750 Nodes a hundred times a second), and sees every cordon as it happens, which a
 * sampled view could miss or log after the run that made it ended. When the watch drops, a fresh
 * list re-syncs what was missed and a new watch starts from it.
 */
export class NodeCache {
  private readonly nodes = new Map<string, V1Node>();
  private readonly listeners: Listener[] = [];
  private readonly core: CoreV1Api;
  private stopped = false;
  private controller: AbortController | undefined;
  private synced: Promise<void>;

  constructor(private readonly kc: KubeConfig) {
    this.core = kc.makeApiClient(CoreV1Api);
    let markSynced = () => {};
    this.synced = new Promise((resolve) => (markSynced = resolve));
    void this.run(markSynced);
  }

  /** Resolves once the first list is in. */
  ready(): Promise<void> {
    return this.synced;
  }

  get(name: string): V1Node | undefined {
    return this.nodes.get(name);
  }

  /** Called for every change of a Node; on deletion with its last state and `deleted` true. */
  onChange(listener: Listener): void {
    this.listeners.push(listener);
  }

  stop(): void {
    this.stopped = true;
    this.controller?.abort();
  }

  private apply(node: V1Node | undefined, deleted: boolean): void {
    const name = node?.metadata?.name;
    if (!node || !name) return;
    const before = this.nodes.get(name);
    if (deleted) this.nodes.delete(name);
    else this.nodes.set(name, node);
    for (const listener of this.listeners) listener(node, before, deleted);
  }

  private async run(markSynced: () => void): Promise<void> {
    while (!this.stopped) {
      try {
        const list = await this.core.listNode();
        const present = new Set(list.items.map((n) => n.metadata?.name ?? ''));
        for (const [name, node] of [...this.nodes]) if (!present.has(name)) this.apply(node, true);
        for (const node of list.items) this.apply(node, false);
        markSynced();
        await new Promise<void>((resolve) => {
          new Watch(this.kc)
            .watch(
              '/api/v1/nodes',
              { resourceVersion: list.metadata?.resourceVersion, allowWatchBookmarks: true },
              (phase: string, object: V1Node) => {
                if (phase === 'ADDED' || phase === 'MODIFIED') this.apply(object, false);
                else if (phase === 'DELETED') this.apply(object, true);
              },
              () => resolve(),
            )
            .then((controller) => (this.controller = controller), resolve);
        });
      } catch {
        // The API server can be briefly unreachable; list again shortly.
      }
      if (!this.stopped) await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

export function isNodeReady(node: V1Node | undefined): boolean {
  return !!node?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
}
