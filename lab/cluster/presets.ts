import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { z } from 'zod';

/**
 * The clusters the lab builds, each described by a file of its own in lab/presets/. The product
 * never reads them: it finds its way in the built cluster with `talos-upgrade init`.
 */
export const PRESETS = ['prox-ops', 'atlas', 'portkey'] as const;
export type Preset = (typeof PRESETS)[number];

export function presetFile(preset: Preset): string {
  return fileURLToPath(new URL(`../presets/${preset}.yaml`, import.meta.url));
}

export function isPreset(name: string): name is Preset {
  return (PRESETS as readonly string[]).includes(name);
}

// The preset's own schema, not the product's inventory: what the lab needs to build a cluster (the
// Proxmox host of each VM, the endpoints its configs name, the kernel arguments its configs carry),
// so that the product's reading of a cluster is never shaped by the lab's description of it.
const label = z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/);
const role = z.enum(['controlplane', 'worker']);
const schematic = z.string().regex(/^[0-9a-f]{64}$/);
const kernelArgs = z.array(z.string().regex(/^[^\s=]+(=\S*)?$/));

const presetNode = z
  .object({
    name: label,
    role,
    ip: z.ipv4(),
    proxmoxHost: label,
    // The node's own Terraform address in the module-per-node shape (the other shapes derive theirs).
    terraformAddress: z.string().min(1).optional(),
    nics: z
      .array(z.object({ name: z.string().min(1), vlan: z.union([z.literal('native'), z.number()]) }))
      .min(1),
    // The schematic the node runs when not its role's (a GPU worker's drivers).
    schematic: schematic.optional(),
    gpu: z
      .object({ model: z.string().min(1), patches: z.array(z.string().min(1)).min(1) })
      .strict()
      .optional(),
    // Its config's extraKernelArgs beyond its role's.
    kernelArgs: kernelArgs.optional(),
  })
  .strict();

const presetSchema = z
  .object({
    apiVersion: z.literal('talos-lab/v1'),
    cluster: z
      .object({
        name: label,
        kubernetesEndpoint: z.url(),
        talosEndpoints: z.array(z.string().min(1)).min(1),
        network: z.cidrv4(),
        vip: z.ipv4().optional(),
        gitops: z.enum(['flux', 'argocd', 'none']),
        storage: z.enum(['rook-ceph', 'external-ceph', 'none']),
      })
      .strict(),
    // The GitHub repository the lab's server plays, holding the user's Terraform and patches.
    repository: z
      .object({
        github: z.string().regex(/^[\w.-]+\/[\w.-]+$/),
        defaultBranch: z.string().min(1).default('main'),
      })
      .strict()
      .optional(),
    proxmox: z
      .object({ hosts: z.array(z.object({ name: label, address: z.ipv4() }).strict()).min(1) })
      .strict(),
    images: z
      .object({
        // The Image Factory installer's form the role configs name, {schematic} and {version} filled in.
        installer: z.string().includes('{schematic}').includes('{version}'),
        schematics: z.object({ controlplane: schematic, worker: schematic.optional() }).strict(),
      })
      .strict(),
    // Each role config's machine.install.extraKernelArgs.
    kernelArgs: z
      .object({ controlplane: kernelArgs.optional(), worker: kernelArgs.optional() })
      .strict()
      .optional(),
    // VMs made by Terraform (absent: provisioned otherwise, so only in-place upgrades are possible).
    terraform: z
      .object({
        // Proxmox templates kept to make new nodes from, one per role and host, at the cluster's
        // version; each Terraform shape writes them its own way (docs/lab.md).
        templates: z.array(z.object({ name: label, host: label, role }).strict()).default([]),
      })
      .strict()
      .optional(),
    nodes: z.array(presetNode).min(1),
    // Patch files of the repository that every node's config carries.
    globalPatches: z.array(z.string().min(1)).default([]),
    // How many workers the cluster's owner lets be unavailable at once: the lab's monitor flags more.
    maxUnavailableWorkers: z.number().int().min(1).default(1),
  })
  .strict();

/** A cluster as the lab builds it. */
export type ClusterPreset = z.infer<typeof presetSchema>;
export type PresetNode = ClusterPreset['nodes'][number];

export function parsePreset(text: string, origin: string): ClusterPreset {
  const parsed = presetSchema.safeParse(parse(text));
  if (!parsed.success)
    throw new Error(
      `${origin} is not a valid preset: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  return parsed.data;
}

/** The schematic of a role's configs and VMs: the controllers' where the workers name none. */
export function roleSchematic(preset: ClusterPreset, role: PresetNode['role']): string {
  const { schematics } = preset.images;
  return (role === 'worker' ? schematics.worker : undefined) ?? schematics.controlplane;
}

/** The schematic a node's image was built from: its own, else its role's. */
export function presetSchematic(preset: ClusterPreset, node: PresetNode): string {
  return node.schematic ?? roleSchematic(preset, node.role);
}

/** The extraKernelArgs of a node's config: its role config's, then those patched in on it alone. */
export function presetKernelArgs(preset: ClusterPreset, node: PresetNode): string[] {
  return [...new Set([...(preset.kernelArgs?.[node.role] ?? []), ...(node.kernelArgs ?? [])])];
}
