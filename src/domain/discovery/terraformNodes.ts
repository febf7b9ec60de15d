/**
 * Which Terraform addresses belong to which node, read from `terraform show -json`: what a rebuild
 * of that node may destroy and create. A resource belongs to a node when it names the node (its
 * for_each key, or an attribute equal to the node's name or address) and no other node; it is
 * addressed through the outermost module instance that holds nothing of another node.
 */

/** One resource instance of the state, flattened out of its module tree. */
export interface StateResource {
  address: string;
  mode: string;
  type: string;
  /** Its count index or for_each key. */
  index?: string | number;
  /** The module instances that hold it, outermost first (module.a["x"], module.a["x"].module.b). */
  modules: string[];
  values: unknown;
}

interface ShowModule {
  address?: string;
  resources?: Array<{
    address: string;
    mode: string;
    type: string;
    index?: string | number;
    values?: unknown;
  }>;
  child_modules?: ShowModule[];
}

/** Every resource instance of a `terraform show -json` document. */
export function stateResources(show: unknown): StateResource[] {
  const root = (show as { values?: { root_module?: ShowModule } }).values?.root_module;
  const out: StateResource[] = [];
  const walk = (module: ShowModule, modules: string[]) => {
    for (const r of module.resources ?? [])
      out.push({ address: r.address, mode: r.mode, type: r.type, index: r.index, modules, values: r.values });
    for (const child of module.child_modules ?? [])
      walk(child, child.address ? [...modules, child.address] : modules);
  };
  if (root) walk(root, []);
  return out;
}

/**
 * Resources of the whole cluster, never one node's even when they name one (the bootstrap names the
 * first controller): destroying them with a node would break the cluster.
 */
const CLUSTER_WIDE = new Set([
  'talos_machine_secrets',
  'talos_machine_bootstrap',
  'talos_cluster_kubeconfig',
  'talos_client_configuration',
  'talos_image_factory_schematic',
]);

export interface NodeIdentity {
  name: string;
  ip: string;
}

function strings(value: unknown, out: Set<string> = new Set()): Set<string> {
  if (typeof value === 'string') out.add(value);
  else if (Array.isArray(value)) for (const v of value) strings(v, out);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) strings(v, out);
  return out;
}

function names(resource: StateResource, node: NodeIdentity, texts: Set<string>): boolean {
  if (resource.index === node.name) return true;
  if (texts.has(node.name) || texts.has(node.ip)) return true;
  // An address with its prefix length (ipv4_addresses = ["10.0.0.11/24"]).
  return [...texts].some((t) => t.startsWith(`${node.ip}/`));
}

export interface NodeAddresses {
  /** Each node's addresses, in the state's order. */
  byNode: Map<string, string[]>;
  /** Managed resources that belong to no single node (cluster-wide, shared, or unknown). */
  unmatched: StateResource[];
}

export function matchNodeAddresses(resources: StateResource[], nodes: NodeIdentity[]): NodeAddresses {
  const managed = resources.filter((r) => r.mode === 'managed');
  const owners = new Map<StateResource, string[]>();
  for (const r of managed) {
    if (CLUSTER_WIDE.has(r.type)) continue;
    const texts = strings(r.values);
    owners.set(
      r,
      nodes.filter((n) => names(r, n, texts)).map((n) => n.name),
    );
  }
  const ownerOf = (r: StateResource) => {
    const found = owners.get(r) ?? [];
    return found.length === 1 ? found[0] : undefined;
  };
  // A module instance is a node's when everything in it that names a node names that one alone.
  const moduleIsOnly = (module: string, node: string) =>
    managed
      .filter((r) => r.modules.includes(module))
      .every((r) => !CLUSTER_WIDE.has(r.type) && ((owners.get(r) ?? []).length === 0 || ownerOf(r) === node));
  const byNode = new Map<string, string[]>(nodes.map((n) => [n.name, []]));
  const chosen = new Set<string>();
  for (const r of managed) {
    const node = ownerOf(r);
    if (!node) continue;
    const address = r.modules.find((m) => moduleIsOnly(m, node)) ?? r.address;
    chosen.add(address);
    const list = byNode.get(node) ?? [];
    if (!list.includes(address)) list.push(address);
    byNode.set(node, list);
  }
  // What no node took: cluster-wide resources, shared ones, templates, anything unnamed.
  const unmatched = managed.filter((r) => !ownerOf(r) && !r.modules.some((m) => chosen.has(m)));
  return { byNode, unmatched };
}
