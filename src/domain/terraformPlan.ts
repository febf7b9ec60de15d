/**
 * The check that stands between a saved `terraform plan` and its apply: a node's rebuild may destroy,
 * create or replace only what lies under the node's own Terraform addresses. Read from `terraform show
 * -json <planfile>` (its resource_changes), so what is checked is exactly what the apply will do.
 */

/** One resource instance of a saved plan and what the plan does to it (`["delete","create"]` = replace). */
export interface PlannedChange {
  address: string;
  actions: string[];
  /** The resource type (`talos_machine_configuration_apply`), as the plan names it. */
  type?: string;
  /**
   * An image download's url: what a create fetches, what it replaces (the undo's), or unknown until
   * apply; `file` is the datastore volume it holds now (its id, which a VM's disk names as file_id).
   */
  image?: { after?: string; before?: string; unknown?: boolean; sensitive?: boolean; file?: string };
  /** A VM's datastore files today (its disks' and CD-ROMs' file_id): which download it boots from. */
  bootFiles?: string[];
  /**
   * What a config apply holds after the plan (created, updated or unchanged: a node's create plan
   * against the live state updates the one its destroy would take, and the rebuild then creates it with
   * these values): its machine_configuration_input and config_patches, or `unknown` when the plan knows
   * them only at apply. Holds the cluster's secrets: read inside an activity, never returned from one.
   */
  appliedConfig?: { input?: string; patches: string[]; unknown: boolean };
}

/** VM resources whose disks and CD-ROMs name the downloaded file they boot (file_id, or import_from). */
export const VM_TYPES: readonly string[] = ['proxmox_virtual_environment_vm'];

/**
 * Disk-image downloads a node's create may replace outside its own addresses: bpg/proxmox's
 * download_file, shared by a role's VMs, whose url names the version (a new url requires a
 * replacement: fwprovider/nodes/resource_download_file.go:271-280 at v0.111.1). Replacing it deletes
 * the old file from the datastore; a VM made from it keeps the disk it imported (a disk's file_id is
 * read only when the VM is created, disk/disk.go:35-47), so the other nodes run on untouched.
 */
export const IMAGE_DOWNLOAD_TYPES: readonly string[] = [
  'proxmox_virtual_environment_download_file',
  'proxmox_download_file',
];

/** What a plan does, by address: the small summary a run's history and a refusal carry. */
export interface PlanSummary {
  create: string[];
  destroy: string[];
  replace: string[];
  update: string[];
}

const isReplace = (actions: string[]) => actions.includes('delete') && actions.includes('create');
const changes = (actions: string[]) => actions.some((a) => a !== 'no-op' && a !== 'read');

export function summarisePlan(planned: PlannedChange[]): PlanSummary {
  const summary: PlanSummary = { create: [], destroy: [], replace: [], update: [] };
  for (const { address, actions } of planned) {
    if (isReplace(actions)) summary.replace.push(address);
    else if (actions.includes('delete')) summary.destroy.push(address);
    else if (actions.includes('create')) summary.create.push(address);
    else if (actions.includes('update')) summary.update.push(address);
  }
  return summary;
}

/** `destroys 1 (a), replaces 2 (b, c)`, or `no changes`. */
export function describePlan(summary: PlanSummary): string {
  const parts = (
    [
      ['destroys', summary.destroy],
      ['replaces', summary.replace],
      ['creates', summary.create],
      ['updates', summary.update],
    ] as const
  )
    .filter(([, list]) => list.length > 0)
    .map(
      ([verb, list]) =>
        `${verb} ${list.length} (${list.slice(0, 5).join(', ')}${list.length > 5 ? ', …' : ''})`,
    );
  return parts.join(', ') || 'no changes';
}

/** Whether a resource address lies under a module, resource or instance address. */
export function underAddress(resource: string, address: string): boolean {
  if (resource === address) return true;
  if (!resource.startsWith(address)) return false;
  const next = resource[address.length];
  return next === '.' || next === '[';
}

/**
 * The instance key right after `address` in `resource` (`["k8s-work-5"]`, `[0]`), if `address` names a
 * module or resource without its key: such an address covers every instance of a `for_each` or `count`.
 */
function instanceKeyAfter(resource: string, address: string): string | undefined {
  const rest = resource.slice(address.length);
  if (!rest.startsWith('[')) return undefined;
  const end = rest.startsWith('["') ? rest.indexOf('"]') + 2 : rest.indexOf(']') + 1;
  return end > 0 ? rest.slice(0, end) : rest;
}

/** Why a node's destroy reaches every node's config apply, and what the user changes. */
export const DEPENDS_ON_ALL_VMS =
  ' (every config apply depends on the whole VM resource, through for_each, depends_on or a reference, so Terraform destroys all of them with any one VM: let each refer only to its own node, e.g. its IP from a variable, or keep each node in a module of its own)';

/**
 * Resources made once for the whole cluster whose destroy only forgets them (terraform-provider-talos
 * v0.11.0: talos_machine_bootstrap_resource.go and talos_cluster_kubeconfig_resource.go, Delete does
 * nothing), which Terraform takes along with a controller when they depend on its resources.
 */
const BOOTSTRAP_TYPE = 'talos_machine_bootstrap';
export const MADE_ONCE_TYPES: readonly string[] = [BOOTSTRAP_TYPE, 'talos_cluster_kubeconfig'];

/**
 * Why no plan may create the bootstrap: machined bootstraps etcd on any control plane node whose etcd
 * data directory is empty (v1alpha1_server.go Bootstrap, v1.13.8), so a new VM would start an etcd
 * cluster of its own beside the running one; an old node answers AlreadyExists, which the provider
 * retries for 10 minutes.
 */
export const BOOTSTRAPS_AGAIN =
  ": Talos would be asked to bootstrap etcd on a cluster that runs (a new VM would start an etcd cluster of its own beside it). Keep talos_machine_bootstrap out of every node's addresses and let it depend on no node (docs/operations.md#troubleshooting)";

/** Why a made-once resource in a node's own module cannot go with it. */
export const MADE_ONCE_IN_NODE =
  ": the cluster's bootstrap or kubeconfig is made once, not with each VM; its destroy only forgets it and the create would bootstrap the new VM as a cluster of its own. Move it out of the node's module (a root resource that depends on no node)";

/**
 * Why a node's destroy takes a made-once resource along, and what the user changes. Forgotten, the
 * bootstrap is made again by the next `terraform apply`: its Create retries every error but
 * InvalidArgument for 10 minutes (talos_machine_bootstrap_resource.go 253-279), and Talos answers a
 * bootstrapped node AlreadyExists (machined v1alpha1_server.go Bootstrap, v1.13.8).
 */
export const TAKES_MADE_ONCE =
  ": it depends on this node's resources (a depends_on on the VMs or config applies, or one of their attributes, directly or through talos_machine_bootstrap), so Terraform destroys it with them. Its destroy only forgets it, and your next terraform apply would bootstrap the running cluster again, which Talos refuses and the provider retries for 10 minutes. Let talos_machine_bootstrap depend on no node: drop that depends_on (the provider retries a new cluster's bootstrap until its node is configured) and give `node` the address from a variable, then run terraform apply once (it changes nothing and records the new dependencies in the state)";

/** Refusals whose fix is in the Terraform configuration, not in the inventory's addresses. */
export const FIXED_IN_TERRAFORM: readonly string[] = [
  DEPENDS_ON_ALL_VMS,
  TAKES_MADE_ONCE,
  BOOTSTRAPS_AGAIN,
  MADE_ONCE_IN_NODE,
];

export interface PlanScope {
  /** What the plan is for: a rebuild's destroy, or its create at a version (also the undo's). */
  kind: 'destroy' | 'create';
  /** The addresses of the nodes (or templates) this plan rebuilds. */
  own: string[];
  /** Every other node's addresses in the inventory, by node name. */
  others: Record<string, string[]>;
}

/**
 * Why a plan must not be applied, or undefined when it only rebuilds what `own` names. Refused: a
 * change under another node's address; a destroy or update outside `own` (a create outside is a new
 * resource the rebuild needs, such as a downloaded image, and is named in the summary, as is a shared
 * image download replaced for the new version: IMAGE_DOWNLOAD_TYPES); an address that
 * covers several instances (`module.nodes` for one node); a create plan that destroys a resource of
 * its own without creating it again.
 */
export function planRefusal(planned: PlannedChange[], scope: PlanScope): string | undefined {
  const changed = planned.filter((p) => changes(p.actions));
  for (const { address, actions, type } of changed) {
    const mine = scope.own.find((a) => underAddress(address, a));
    // Before whose it is: made once for the cluster, it is no node's to take along or to make again.
    if (type === BOOTSTRAP_TYPE && actions.includes('create'))
      return `it would ${actions.join('+')} ${address}${BOOTSTRAPS_AGAIN}`;
    if (scope.kind === 'destroy' && MADE_ONCE_TYPES.includes(type ?? '') && actions.includes('delete'))
      return mine
        ? `it would ${actions.join('+')} ${address}, which lies under ${mine}${MADE_ONCE_IN_NODE}`
        : `it would ${actions.join('+')} ${address}${TAKES_MADE_ONCE}`;
    for (const [node, addresses] of Object.entries(scope.others)) {
      const theirs = addresses.find((a) => underAddress(address, a));
      if (!theirs) continue;
      if (!mine)
        return `it would ${actions.join('+')} ${address}, which belongs to ${node}${type === CONFIG_APPLY_TYPE ? DEPENDS_ON_ALL_VMS : ''}`;
      // Two nodes' addresses overlap: one names more than its own node.
      return underAddress(mine, theirs)
        ? `${node}'s address ${theirs} also covers ${mine}: each node must name its own instance`
        : `${mine} also covers ${node}'s ${theirs}: name this node's own instance`;
    }
    const newImage = IMAGE_DOWNLOAD_TYPES.includes(type ?? '') && actions.includes('create');
    const needed = (actions.length === 1 && actions[0] === 'create') || newImage;
    if (!mine && !(scope.kind === 'create' && needed))
      return `it would ${actions.join('+')} ${address}, outside ${scope.own.join(', ')}`;
    if (mine && scope.kind === 'create' && actions.length === 1 && actions[0] === 'delete')
      return `it would destroy ${address} without creating it again`;
  }
  for (const address of scope.own) {
    const keys = new Set(
      changed.flatMap((p) => {
        const key = underAddress(p.address, address) ? instanceKeyAfter(p.address, address) : undefined;
        return key ? [key] : [];
      }),
    );
    if (keys.size > 1)
      return `${address} names ${keys.size} instances (${[...keys].slice(0, 5).join(', ')}${keys.size > 5 ? ', …' : ''}), not one node: name the node's own instance, e.g. ${address}${[...keys][0]}`;
  }
  return undefined;
}

/** The resource_changes of `terraform show -json <planfile>`, as PlannedChanges (data reads left out). */
export function plannedChanges(showJson: string): PlannedChange[] {
  const plan = JSON.parse(showJson) as {
    resource_changes?: Array<{
      address?: string;
      mode?: string;
      type?: string;
      change?: {
        actions?: string[];
        before?: { url?: unknown; id?: unknown; disk?: unknown; cdrom?: unknown } | null;
        after?: { url?: unknown; machine_configuration_input?: unknown; config_patches?: unknown } | null;
        after_unknown?: {
          url?: unknown;
          machine_configuration_input?: unknown;
          config_patches?: unknown;
        } | null;
        after_sensitive?: { url?: unknown } | null;
        before_sensitive?: { url?: unknown } | null;
      };
    }>;
  };
  return (plan.resource_changes ?? [])
    .filter((r) => r.mode !== 'data' && typeof r.address === 'string')
    .map((r) => {
      const c = r.change;
      const text = (value: unknown) => (typeof value === 'string' ? value : undefined);
      const image = IMAGE_DOWNLOAD_TYPES.includes(r.type ?? '')
        ? {
            ...(text(c?.after?.url) ? { after: text(c?.after?.url) } : {}),
            ...(text(c?.before?.url) ? { before: text(c?.before?.url) } : {}),
            ...(text(c?.before?.id) ? { file: text(c?.before?.id) } : {}),
            ...(c?.after_unknown?.url === true ? { unknown: true } : {}),
            ...(c?.after_sensitive?.url === true || c?.before_sensitive?.url === true
              ? { sensitive: true }
              : {}),
          }
        : undefined;
      // A disk names its image by file_id, or by import_from in bpg/proxmox's newer form.
      const files = (blocks: unknown) =>
        Array.isArray(blocks)
          ? blocks.flatMap((b) => {
              const block = b as { file_id?: unknown; import_from?: unknown } | null;
              return [text(block?.file_id), text(block?.import_from)].flatMap((f) => f ?? []);
            })
          : [];
      const bootFiles = VM_TYPES.includes(r.type ?? '')
        ? [...files(c?.before?.disk), ...files(c?.before?.cdrom)]
        : [];
      const patches = c?.after?.config_patches;
      const patchesUnknown = c?.after_unknown?.config_patches;
      const appliedConfig =
        r.type === CONFIG_APPLY_TYPE && c?.actions?.some((a) => a !== 'delete')
          ? {
              ...(text(c.after?.machine_configuration_input)
                ? { input: text(c.after?.machine_configuration_input) }
                : {}),
              patches: Array.isArray(patches) ? patches.flatMap((p) => text(p) ?? []) : [],
              unknown:
                c.after_unknown?.machine_configuration_input === true ||
                patchesUnknown === true ||
                (Array.isArray(patchesUnknown) && patchesUnknown.includes(true)),
            }
          : undefined;
      return {
        address: r.address ?? '',
        actions: r.change?.actions ?? [],
        ...(r.type ? { type: r.type } : {}),
        ...(image ? { image } : {}),
        ...(bootFiles.length ? { bootFiles } : {}),
        ...(appliedConfig ? { appliedConfig } : {}),
      };
    });
}

/** The siderolabs/talos provider's resource that sends a machine config to a node when it is created. */
export const CONFIG_APPLY_TYPE = 'talos_machine_configuration_apply';

/**
 * The config-apply resources a node's destroy plan takes down with its VM, under its own addresses: the
 * create that follows makes them again, and so configures the new VM. None means Terraform would leave
 * the new VM unconfigured (the resource has no replace trigger of its own).
 */
export function configAppliesDestroyed(planned: PlannedChange[], own: string[]): string[] {
  return planned
    .filter(
      (p) =>
        p.type === CONFIG_APPLY_TYPE &&
        p.actions.includes('delete') &&
        own.some((address) => underAddress(p.address, address)),
    )
    .map((p) => p.address);
}

/**
 * What a node's destroy plan takes down besides config applies: its VM and what goes with it. None
 * means the node's addresses name only its configuration: the "rebuild" would send a config to the
 * running VM again, its version would never change, and the run would fail after the node was drained.
 */
export function destroyedBesidesConfig(planned: PlannedChange[]): string[] {
  return planned
    .filter((p) => p.actions.includes('delete') && p.type !== CONFIG_APPLY_TYPE)
    .map((p) => p.address);
}

/** An image a rebuild depends on: the target's (downloaded by the create) or the undo's (the one it replaces). */
export interface ImageDownload {
  address: string;
  for: 'target' | 'undo';
  /** Undefined when the plan knows it only at apply. */
  url?: string;
  sensitive: boolean;
}

/**
 * The images a node's create plan downloads anew, and those it replaces: the undo downloads the
 * replaced one again (its url is the plan's `before`). Each must answer before a VM is destroyed.
 */
export function downloadsOf(planned: PlannedChange[]): ImageDownload[] {
  const found: ImageDownload[] = [];
  for (const { address, actions, image } of planned) {
    if (!image || !actions.includes('create')) continue;
    const sensitive = image.sensitive === true;
    found.push({ address, for: 'target', ...(image.unknown ? {} : { url: image.after }), sensitive });
    if (actions.includes('delete') && image.before)
      found.push({ address, for: 'undo', url: image.before, sensitive });
  }
  return found;
}

/** An image a node's new VM boots: a download's url after the plan (undefined when known only at apply). */
export interface BootImage {
  address: string;
  url?: string;
}

/**
 * The images the node's own VMs boot: the downloads (replaced or not) holding the files their disks
 * and CD-ROMs name today, at their url after the plan. Undefined when the plan shows no such file
 * (a VM type the product does not read): then which download it boots is not known.
 */
export function bootImagesOf(planned: PlannedChange[], own: readonly string[]): BootImage[] | undefined {
  const files = planned
    .filter((p) => own.some((address) => underAddress(p.address, address)))
    .flatMap((p) => p.bootFiles ?? []);
  if (files.length === 0) return undefined;
  return planned.flatMap(({ address, image }) =>
    image?.file !== undefined && files.includes(image.file)
      ? [{ address, ...(image.unknown || !image.after ? {} : { url: image.after }) }]
      : [],
  );
}

/** A URL fit for a message or a run's history: no user, password or query (tokens travel there). */
export function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    parsed.search = '';
    return parsed.toString();
  } catch {
    return '(an unparsable URL)';
  }
}
