import { Document, isMap, isScalar, isSeq, Scalar, type Node, type YAMLMap } from 'yaml';
import type { DiscoveredCluster, DiscoveredNode } from './discovered.js';
import { matchNodeAddresses, type StateResource } from './terraformNodes.js';
import { VM_TYPES } from '../terraformPlan.js';
import type { ParsedHclFile } from './versionLocations.js';
import { versionsSection } from './versionsSection.js';

/** What `talos-upgrade init` learnt, and what the user told it. */
export interface DraftInput {
  cluster: string;
  discovered: DiscoveredCluster;
  /** The Terraform root, as the inventory names it (relative to the inventory's folder), and its state. */
  terraform?: { directory: string; resources: StateResource[]; files: ParsedHclFile[] };
  machineConfigs: { controlplane?: string; worker?: string };
  backups: string;
  /** owner/name on GitHub, when the repository's origin is there. */
  repository?: string;
  /** The branch merges land on, from the work tree. */
  defaultBranch?: string;
}

export interface InventoryDraft {
  /** The inventory, with comments that say where each fact came from. */
  text: string;
  /** What init could not settle: said on the terminal and in the file. */
  notes: string[];
  /** What stops the inventory from being usable: init writes nothing while any is left. */
  problems: string[];
}

const mostCommon = <T>(values: T[]): T | undefined => {
  const counts = new Map<T, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
};

const CONFIG_APPLY = 'talos_machine_configuration_apply';

/**
 * The schematic a node runs: its image's (the factory's `schematic` extension), else the one its
 * config's installer names.
 */
export const nodeSchematic = (n: DiscoveredNode): string | undefined =>
  n.runningSchematic ?? n.installer?.schematic;

/** The installer form and each role's schematic; a node that runs another schematic keeps its own. */
function images(nodes: DiscoveredNode[], problems: string[], notes: string[]) {
  const withInstaller = nodes.filter((n) => n.installer);
  // A node whose config names no factory installer still tells its schematic through its image, and
  // the form comes from the others'.
  const missing = nodes.filter((n) => !n.installer && !(n.runningSchematic && withInstaller.length));
  if (missing.length)
    problems.push(
      `the Image Factory installer of ${missing.map((n) => `${n.name} (machine.install.image: ${n.installImage ?? 'none'})`).join(', ')} ` +
        'is not known: the product installs <registry>/<path>/<schematic>:v<version>. Set machine.install.image in ' +
        "those nodes' configs to the Image Factory installer they run (factory.talos.dev/<platform>-installer/<schematic>:v<version>).",
    );
  const forms = [...new Set(withInstaller.map((n) => n.installer?.form))];
  if (forms.length > 1)
    notes.push(
      `the nodes name ${forms.length} installer forms (${forms.join(', ')}); the inventory takes the most common`,
    );
  const form = mostCommon(withInstaller.map((n) => n.installer?.form ?? ''));
  const stale = nodes.filter(
    (n) => n.runningSchematic && n.installer && n.installer.schematic !== n.runningSchematic,
  );
  if (stale.length)
    notes.push(
      `${stale.map((n) => n.name).join(', ')}: machine.install.image names another schematic than the node runs (talosctl get extensions); the inventory takes the one it runs`,
    );
  const roleSchematic = (role: DiscoveredNode['role']) =>
    mostCommon(
      nodes
        .filter((n) => n.role === role)
        .map(nodeSchematic)
        .filter((id): id is string => !!id),
    );
  const schematics = {
    controlplane: roleSchematic('controlplane'),
    worker: roleSchematic('worker'),
  };
  return { form, schematics };
}

/** Arguments every node of a role has go to the role; the rest stay with their node. */
function kernelArgs(nodes: DiscoveredNode[]) {
  const role = (r: DiscoveredNode['role']) => {
    const of = nodes.filter((n) => n.role === r);
    return (of[0]?.extraKernelArgs ?? []).filter((arg) => of.every((n) => n.extraKernelArgs.includes(arg)));
  };
  return { controlplane: role('controlplane'), worker: role('worker') };
}

/**
 * Templates: what no node took and that is one: a bpg/proxmox VM with `template = true` (the mark
 * Proxmox itself goes by), a VM whose address says `template`, or what a module that says `template`
 * holds (named by that module instance). Not any resource that says it (an image download for a
 * template is the template's, not one). Names are DNS labels, one per template.
 */
function templates(unmatched: StateResource[]) {
  const seen = new Set<string>();
  const out: Array<{ name: string; address: string }> = [];
  for (const r of unmatched) {
    const values = (r.values ?? {}) as { template?: unknown; name?: unknown };
    const isVm = VM_TYPES.includes(r.type);
    const module = r.modules.find((m) => /template/i.test(m));
    if (!(isVm && (values.template === true || /template/i.test(r.address))) && !module) continue;
    const address = module ?? r.address;
    if (seen.has(address)) continue;
    seen.add(address);
    const key =
      /\["([^"]+)"\]$/.exec(address)?.[1] ??
      (typeof values.name === 'string' && values.name ? values.name : String(r.index ?? r.type));
    const label =
      key
        .toLowerCase()
        .replace(/[^a-z0-9-]+/g, '-')
        .slice(0, 60)
        .replace(/^-+|-+$/g, '') || 'template';
    let name = label;
    for (let n = 2; out.some((t) => t.name === name); n++) name = `${label}-${n}`;
    out.push({ name, address });
  }
  return out;
}

/** Whether a folder or file name of `path` is the node's name, or holds it between separators (cp-1, not cp-10). */
function namesNode(path: string, node: string): boolean {
  const escaped = node.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const bounded = new RegExp(`(^|[^a-z0-9])${escaped}($|[^a-z0-9])`, 'i');
  return path.split('/').some((segment) => bounded.test(segment.replace(/\.ya?ml$/i, '')));
}

/**
 * The repository's patches the nodes carry: those on every node are global patches (applied again
 * after each upgrade); a GPU node's own are its GPU patches, with the model its label names. Another
 * node's own patches have no place in the inventory: said, since a recreated VM gets them only from
 * its machine config.
 */
function patchesOf(nodes: DiscoveredNode[], notes: string[]) {
  const global = (nodes[0]?.patches ?? []).filter((path) => nodes.every((n) => n.patches.includes(path)));
  // Two GPU nodes often carry copies of one patch: a file whose path names another node is that node's.
  const namedNodes = (path: string) => nodes.filter((n) => namesNode(path, n.name)).map((n) => n.name);
  const gpu = new Map<string, { model: string; patches: string[] }>();
  for (const n of nodes) {
    const own = n.patches.filter((path) => {
      const named = namedNodes(path);
      return !global.includes(path) && (named.length === 0 || named.includes(n.name));
    });
    if (n.gpus > 0 && own.length) {
      if (!n.gpuProduct)
        notes.push(
          `${n.name} has no nvidia.com/gpu.product label (GPU Feature Discovery sets it): its gpu.model says NVIDIA; write the model there`,
        );
      gpu.set(n.name, { model: n.gpuProduct ?? 'NVIDIA', patches: own });
    } else if (n.gpus > 0)
      notes.push(
        `${n.name} offers ${n.gpus} nvidia.com/gpu but its config carries no patch file of the repository: if a GPU patch is kept elsewhere, list it under its gpu.patches (docs/inventory.md)`,
      );
    else if (own.length)
      notes.push(
        `${n.name}'s config carries ${own.join(', ')}, which the inventory applies to no node: a recreated VM has it only if its machine config does`,
      );
  }
  return { global, gpu };
}

function comment(node: Node, text: string): void {
  node.commentBefore = ` ${text.replaceAll('\n', '\n ')}`;
}

/** A top-level key of the document, with a blank line and a comment above it. */
function commentKey(map: YAMLMap, key: string, text: string): void {
  const pair = map.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === key);
  if (!pair) return;
  const scalar = isScalar(pair.key) ? pair.key : new Scalar(pair.key);
  pair.key = scalar;
  scalar.spaceBefore = true;
  comment(scalar, text);
}

/** The inventory init writes: what the cluster runs, where Terraform keeps it, and sane defaults. */
export function draftInventory(input: DraftInput): InventoryDraft {
  const { nodes } = input.discovered;
  const problems: string[] = [];
  const notes: string[] = [];
  const { form, schematics } = images(nodes, problems, notes);
  const roleArgs = kernelArgs(nodes);
  const patches = patchesOf(nodes, notes);
  const talosVersion = mostCommon(nodes.map((n) => n.talosVersion));
  const kubernetesVersion = mostCommon(nodes.map((n) => n.kubeletVersion));
  if (new Set(nodes.map((n) => n.talosVersion)).size > 1)
    notes.push(
      `the nodes run different Talos versions (${[...new Set(nodes.map((n) => `${n.name} ${n.talosVersion}`))].join(', ')})`,
    );

  const matched = input.terraform ? matchNodeAddresses(input.terraform.resources, nodes) : undefined;
  const configApplied = (node: string) =>
    (input.terraform?.resources ?? []).some(
      (r) =>
        r.type === CONFIG_APPLY &&
        (matched?.byNode.get(node) ?? []).some((a) => r.address === a || r.modules.includes(a)),
    );
  const machineConfigs: Record<string, string> = {};
  for (const role of ['controlplane', 'worker'] as const) {
    const of = nodes.filter((n) => n.role === role);
    if (of.length === 0) continue;
    if (of.every((n) => configApplied(n.name))) machineConfigs[role] = 'terraform';
    else if (input.machineConfigs[role]) machineConfigs[role] = input.machineConfigs[role] ?? '';
    else if (input.terraform)
      problems.push(
        `nothing configures a recreated ${role} VM: pass --${role}-config <file> (what talosctl gen config wrote; SOPS-encrypted is fine), ` +
          `or give each node a ${CONFIG_APPLY} in Terraform. Cattle upgrades (minor releases) destroy and recreate VMs.`,
      );
  }

  for (const { address, node } of matched?.named ?? [])
    notes.push(
      `${address} names ${node} but is neither its VM nor keyed by it: left out of its rebuild (add it to the node's terraformAddresses if it is the node's own)`,
    );
  const inventoryNodes = nodes.map((n) => {
    const addresses = matched?.byNode.get(n.name) ?? [];
    if (input.terraform && addresses.length === 0)
      problems.push(`no resource in the Terraform state names ${n.name} or ${n.ip}: which VM is it?`);
    if (n.extraVlans.length)
      notes.push(
        `${n.name} has more VLANs on one NIC (${n.extraVlans.join(', ')}) than the inventory can check: its first is checked`,
      );
    const ownArgs = n.extraKernelArgs.filter((arg) => !roleArgs[n.role].includes(arg));
    if (n.leftOutKernelArgs.notBooted.length)
      notes.push(
        `${n.name}'s config asks for kernel arguments it did not boot with (${n.leftOutKernelArgs.notBooted.join(' ')}): left out, as the product checks the booted command line`,
      );
    if (n.leftOutKernelArgs.secret)
      notes.push(`${n.name}: ${n.leftOutKernelArgs.secret} kernel argument(s) carrying credentials left out`);
    const schematic = nodeSchematic(n);
    return {
      name: n.name,
      role: n.role,
      ip: n.ip,
      ...(addresses.length === 1 ? { terraformAddress: addresses[0] } : {}),
      ...(addresses.length > 1 ? { terraformAddresses: addresses } : {}),
      ...(schematic && schematic !== schematics[n.role] ? { schematic } : {}),
      nics: n.nics,
      ...(ownArgs.length ? { kernelArgs: ownArgs } : {}),
      ...(patches.gpu.has(n.name) ? { gpu: patches.gpu.get(n.name) } : {}),
    };
  });

  const versionsFound = input.terraform
    ? versionsSection(
        input.terraform.files,
        {
          talos: talosVersion,
          kubernetes: kubernetesVersion,
          controllerSchematic: schematics.controlplane,
          workerSchematic: schematics.worker,
        },
        problems,
        notes,
      )
    : undefined;
  const found = templates(matched?.unmatched ?? []);
  const others = (matched?.unmatched ?? []).filter(
    (r) => !found.some((t) => r.address === t.address || r.modules.includes(t.address)),
  );

  const { namespaces } = input.discovered;
  const gitops = namespaces.has('flux-system') ? 'flux' : namespaces.has('argocd') ? 'argocd' : 'none';
  const storage = namespaces.has('rook-ceph') ? 'rook-ceph' : 'none';
  const healthChecks = [
    'node',
    'pods',
    ...(gitops !== 'none' ? [gitops] : []),
    ...(storage !== 'none' ? ['ceph'] : []),
  ];

  const inventory = {
    apiVersion: 'talos-upgrade/v1',
    cluster: { name: input.cluster, gitops, storage },
    ...(input.repository
      ? {
          repository: {
            github: input.repository,
            ...(input.defaultBranch ? { defaultBranch: input.defaultBranch } : {}),
          },
        }
      : {}),
    images: {
      installer: form ?? '',
      schematics: {
        ...(schematics.controlplane ? { controlplane: schematics.controlplane } : {}),
        ...(schematics.worker ? { worker: schematics.worker } : {}),
      },
    },
    ...(roleArgs.controlplane.length || roleArgs.worker.length
      ? {
          kernelArgs: {
            ...(roleArgs.controlplane.length ? { controlplane: roleArgs.controlplane } : {}),
            ...(roleArgs.worker.length ? { worker: roleArgs.worker } : {}),
          },
        }
      : {}),
    ...(Object.keys(machineConfigs).length ? { machineConfigs } : {}),
    ...(input.terraform
      ? {
          terraform: {
            directory: input.terraform.directory,
            ...(found.length ? { templates: found } : {}),
            ...(versionsFound?.varFile ? { varFiles: [versionsFound.varFile] } : {}),
          },
        }
      : {}),
    ...(versionsFound ? { versions: { file: versionsFound.file, variables: versionsFound.variables } } : {}),
    nodes: inventoryNodes,
    policy: { healthChecks, ...(patches.global.length ? { globalPatches: patches.global } : {}) },
    backups: { directory: input.backups },
  };

  const doc = new Document(inventory);
  doc.commentBefore =
    ` Written by talos-upgrade init from the cluster ${input.cluster}: its Nodes, each node's Talos API,` +
    `\n the Terraform state and files. Check it with: talos-upgrade validate <this file>.` +
    `\n Every field: docs/inventory.md.`;
  const contents = doc.contents as YAMLMap;
  const section = (key: string, text: string) => commentKey(contents, key, text);
  section(
    'images',
    "The installer's form from each node's machine.install.image; each schematic from what the node runs (talosctl get extensions).",
  );
  section('kernelArgs', 'From machine.install.extraKernelArgs: checked on every node after each upgrade.');
  section(
    'machineConfigs',
    machineConfigs.controlplane === 'terraform' || machineConfigs.worker === 'terraform'
      ? 'terraform: the targeted apply that recreates a VM configures it (talos_machine_configuration_apply).'
      : 'What configures a recreated VM (cattle): files outside the repository; SOPS-encrypted is fine.',
  );
  section(
    'terraform',
    "The root that manages the VMs; each node's addresses are what its rebuild may destroy and create." +
      (others.length
        ? `\nResources of no single node (no rebuild touches them): ${others
            .slice(0, 6)
            .map((r) => r.address)
            .join(', ')}${others.length > 6 ? `, and ${others.length - 6} more` : ''}.`
        : ''),
  );
  section('versions', 'Where Renovate bumps the versions the nodes run; a merge that changes them upgrades.');
  section(
    'policy',
    'The defaults: patches in place (pets), minor and major releases by recreating VMs (cattle), approval for\nmajors, one worker at a time. Every knob: docs/inventory.md (policy).' +
      (patches.global.length
        ? "\nglobalPatches: the repository's patches every node's config carries, applied again after each upgrade."
        : ''),
  );
  section(
    'nodes',
    "From the Kubernetes Nodes; NICs from each node's links; addresses from the Terraform state.",
  );
  section('backups', 'etcd snapshots and Terraform states kept before each node moves.');
  const nodesSeq = contents.get('nodes', true);
  if (isSeq(nodesSeq))
    nodesSeq.items.forEach((item, i) => {
      const n = nodes[i];
      if (!isMap(item)) return;
      // One NIC per line, as people write them.
      const nics = item.get('nics', true);
      if (isSeq(nics)) for (const nic of nics.items) if (isMap(nic)) nic.flow = true;
      if (n && patches.gpu.has(n.name))
        comment(
          item,
          `${n.name}'s config carries the GPU patches below (found by comparing the repository's patches with it).`,
        );
    });
  for (const note of notes) doc.comment = `${doc.comment ? `${doc.comment}\n` : ''} Note: ${note}`;
  return { text: doc.toString({ lineWidth: 0 }), notes, problems };
}
