/**
 * Which Terraform addresses belong to which node, read from `terraform show -json`: what a rebuild
 * of that node may destroy and create (see matchNodeAddresses for the rule).
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

/** VM resource types, and what configures one node: attributes that name a node are trusted only on these. */
const NODE_TYPES = new Set([
  'proxmox_virtual_environment_vm',
  'proxmox_vm_qemu',
  'talos_machine_configuration_apply',
]);

function namedBy(texts: Set<string>, node: NodeIdentity): boolean {
  if (texts.has(node.name) || texts.has(node.ip)) return true;
  // An address with its prefix length (ipv4_addresses = ["10.0.0.11/24"]).
  return [...texts].some((t) => t.startsWith(`${node.ip}/`));
}

/** The key of a module instance (module.nodes["cp-1"] -> cp-1). */
const moduleKey = (module: string) =>
  /\[(?:"([^"]*)"|(\d+))\]$/
    .exec(module)
    ?.slice(1)
    .find((k) => k !== undefined);

export interface NodeAddresses {
  /** Each node's addresses, in the state's order. */
  byNode: Map<string, string[]>;
  /** Managed resources that belong to no single node (cluster-wide, shared, or unknown). */
  unmatched: StateResource[];
  /** Resources that name one node but are neither its VM nor keyed by it: left out of its rebuild. */
  named: Array<{ address: string; node: string }>;
}

/**
 * A resource is a node's when it is keyed by the node (its for_each key, or a module instance's key,
 * is the node's name or address) or when it is a VM or config apply whose attributes name the node —
 * and it is no other node's. Anything else that merely names a node (a Helm release set to a
 * controller's address, a DNS record) is not: a rebuild of that node must never destroy it.
 */
export function matchNodeAddresses(resources: StateResource[], nodes: NodeIdentity[]): NodeAddresses {
  const managed = resources.filter((r) => r.mode === 'managed' && !CLUSTER_WIDE.has(r.type));
  const keyedBy = (key: string | number | undefined) =>
    nodes.filter((n) => key !== undefined && (String(key) === n.name || String(key) === n.ip));
  const owners = new Map<StateResource, string[]>();
  const named: NodeAddresses['named'] = [];
  for (const r of managed) {
    const texts = strings(r.values);
    const byKey = [...keyedBy(r.index), ...r.modules.flatMap((m) => keyedBy(moduleKey(m)))];
    const byAttribute = nodes.filter((n) => namedBy(texts, n));
    const found = new Set([...byKey, ...(NODE_TYPES.has(r.type) ? byAttribute : [])].map((n) => n.name));
    owners.set(r, [...found]);
    const [only] = byAttribute;
    if (found.size === 0 && byAttribute.length === 1 && only)
      named.push({ address: r.address, node: only.name });
  }
  const ownerOf = (r: StateResource) => {
    const found = owners.get(r) ?? [];
    return found.length === 1 ? found[0] : undefined;
  };
  // A node's module instance: keyed by the node, and holding nothing of another node.
  const moduleOf = (r: StateResource, node: string) =>
    r.modules.find(
      (m) =>
        keyedBy(moduleKey(m)).some((n) => n.name === node) &&
        managed
          .filter((o) => o.modules.includes(m))
          .every((o) => (owners.get(o) ?? []).every((n) => n === node)),
    );
  const byNode = new Map<string, string[]>(nodes.map((n) => [n.name, []]));
  const chosen = new Set<string>();
  for (const r of managed) {
    const node = ownerOf(r);
    if (!node) continue;
    const address = moduleOf(r, node) ?? r.address;
    chosen.add(address);
    const list = byNode.get(node) ?? [];
    if (!list.includes(address)) list.push(address);
    byNode.set(node, list);
  }
  // What no node took: cluster-wide resources, shared ones, templates, anything unnamed.
  const unmatched = resources.filter(
    (r) =>
      r.mode === 'managed' && !ownerOf(r) && !chosen.has(r.address) && !r.modules.some((m) => chosen.has(m)),
  );
  return { byNode, unmatched, named };
}
