import { maintenanceWindowSchema } from '../maintenanceWindow.js';
import { z } from 'zod';
import { durationField } from './duration.js';
import {
  DEFAULT_MATCH_STRINGS,
  DEFAULT_VARIABLES,
  renovatePatternProblem,
  type VersionValue,
} from '../renovatePatterns.js';

const name = z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, {
  error: 'expected a DNS label: lower-case letters, digits and -',
});

/**
 * A field earlier inventories had and the product never read (it reaches VMs through Terraform and
 * the cluster through the worker's kubeconfig and talosconfig): refused with what to do, so an old
 * inventory is not half-read.
 */
const retired = (why: string) =>
  z.never({ error: `no longer part of the inventory (${why}): delete it` }).optional();
const NEVER_READ_HOST = 'the product reaches a VM through Terraform, never a Proxmox host';

const strategy = z.enum(['pets', 'cattle'], { error: 'expected "pets" or "cattle"' });

const vlanError = 'expected a VLAN id from 1 to 4094, or "native" for an untagged NIC';

export const nicSchema = z
  .object({
    name: z.string().regex(/^[a-z][a-z0-9.]*$/, { error: 'expected an interface name such as eth0' }),
    vlan: z.union(
      [
        z.literal('native'),
        z.number().int({ error: vlanError }).min(1, { error: vlanError }).max(4094, { error: vlanError }),
      ],
      {
        error: vlanError,
      },
    ),
  })
  .strict();

// One kernel argument as /proc/cmdline shows it: `key` or `key=value`, no spaces.
const kernelArg = z
  .string()
  .regex(/^[^\s=]+(=\S*)?$/, { error: 'expected a kernel argument such as intel_iommu=on' });
export const kernelArgsSchema = z.array(kernelArg);

export const nodeSchema = z
  .object({
    name,
    role: z.enum(['controlplane', 'worker'], { error: 'expected "controlplane" or "worker"' }),
    ip: z.ipv4({ error: 'expected an IPv4 address' }),
    proxmoxHost: retired(NEVER_READ_HOST),
    vmId: retired(NEVER_READ_HOST),
    // This node's Image Factory schematic when it differs from its role's (a GPU worker's extensions):
    // its pets upgrades install this schematic's installer.
    schematic: z
      .string()
      .regex(/^[0-9a-f]{64}$/, { error: 'expected a 64-character schematic id' })
      .optional(),
    // The node's Terraform addresses: its VM, and what configures it when that is a resource of its own
    // (one address, or several). A rebuild may destroy and create only what lies under them.
    terraformAddress: z.string().min(1).optional(),
    terraformAddresses: z.array(z.string().min(1)).min(1).optional(),
    // This node's machine config file, when it differs from its role's (machineConfigs); or
    // `terraform` when a talos_machine_configuration_apply among its addresses configures a new VM.
    machineConfig: z.string().min(1).optional(),
    nics: z.array(nicSchema).min(1, { error: 'every node has at least one NIC (eth0)' }),
    gpu: z
      .object({
        model: z.string().min(1),
        patches: z.array(z.string().min(1)).min(1, { error: 'a GPU node needs its patch files' }),
      })
      .strict()
      .optional(),
    // Kernel arguments this node's command line must hold after an upgrade, on top of its role's.
    kernelArgs: kernelArgsSchema.optional(),
  })
  .strict();

/** A secret is named by where it lives, never written into the inventory itself. */
export const secretRef = z.union(
  [
    z.object({ env: z.string().regex(/^[A-Z_][A-Z0-9_]*$/) }).strict(),
    z.object({ file: z.string().min(1) }).strict(),
  ],
  { error: 'expected {env: VARIABLE_NAME} or {file: /path/to/secret}; secrets are never written inline' },
);

const notificationSchema = z
  .object({
    type: z.enum(['discord', 'webhook'], { error: 'expected "discord" or "webhook"' }),
    url: secretRef,
    events: z
      .array(z.enum(['start', 'node', 'complete', 'rollback', 'approval', 'canary', 'critical']))
      .optional(),
  })
  .strict();

const templateSchema = z
  .object({
    name,
    host: retired(NEVER_READ_HOST),
    role: retired('every template is rebuilt at the new version alike'),
    address: z.string().min(1),
  })
  .strict();

export const HEALTH_CHECKS = ['node', 'pods', 'ceph', 'flux', 'argocd', 'dns', 'network', 'gpu'] as const;

const kubernetesRange = z
  .object({
    min: z.string().regex(/^\d+\.\d+$/, { error: 'expected a minor version such as 1.33' }),
    max: z.string().regex(/^\d+\.\d+$/, { error: 'expected a minor version such as 1.38' }),
  })
  .strict();

// Where versions are read: the matchStrings of the shipped Renovate preset unless the inventory gives
// others, refused here when Renovate would refuse them, so what Renovate bumps is what we read.
const matchStrings = (value: VersionValue) =>
  z
    .union([z.string(), z.array(z.string()).min(1)], {
      error: 'expected a regular expression or a list of them',
    })
    .superRefine((input, ctx) => {
      const list = typeof input === 'string' ? [input] : input;
      list.forEach((source, index) => {
        const problem = renovatePatternProblem(source, value);
        if (problem)
          ctx.addIssue({ code: 'custom', message: problem, path: typeof input === 'string' ? [] : [index] });
      });
    })
    .transform((input) => (typeof input === 'string' ? [input] : input))
    .default([...DEFAULT_MATCH_STRINGS[value]]);

const variableName = (value: VersionValue) =>
  z
    .string()
    .regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, {
      error:
        'expected a Terraform variable name such as prod_talos_version, or an attribute of an object variable such as cluster.talos_version',
    })
    .default(DEFAULT_VARIABLES[value]);

/** policy.heartbeatTimeout when the inventory says nothing: the activities' heartbeat timeout. */
export const DEFAULT_HEARTBEAT_TIMEOUT_MS = 60_000;

const policySchema = z
  .object({
    strategy: z
      .object({
        patch: strategy.default('pets'),
        minor: strategy.default('cattle'),
        major: strategy.default('cattle'),
      })
      .strict()
      .prefault({}),
    approval: z
      .object({
        patch: z.boolean().default(false),
        minor: z.boolean().default(false),
        major: z.boolean().default(true),
        // Who may approve or reject (a user, or one identity user@host); empty: anyone who reaches Temporal.
        approvers: z.array(z.string().regex(/^[^\s@]+(@[^\s@]+)?$/)).default([]),
      })
      .strict()
      .prefault({}),
    approvalTimeout: durationField.default(24 * 3_600_000),
    // No node starts outside these (several allowed); none: any time. A node in flight when a window
    // closes finishes; the run then waits for the next opening on a durable timer.
    maintenanceWindows: z.array(maintenanceWindowSchema).default([]),
    withoutTerraform: z.enum(['pets', 'refuse']).default('refuse'),
    // A strategy asked for by a pull request's label or `start --strategy`: approve (taken; a hop it
    // turns into cattle waits for approval), allow (taken as it is), ignore (the policy's strategy).
    strategyOverride: z.enum(['approve', 'allow', 'ignore']).default('approve'),
    maxParallelWorkers: z.number().int().min(1).max(50).default(1),
    // Talos 1.13+ pets: pull and install the new version before cordon and drain (the node is out
    // of service only for the drain and the reboot); false installs after the drain, as before 1.13.
    installBeforeDrain: z.boolean().default(true),
    // A trial: the run's first hop upgrades one node before any other (a worker, or with `after:
    // controller` the first controller), then holds for `hold` unless an operator approves (go on
    // now) or rejects (stop; the other nodes untouched).
    canary: z
      .object({ hold: durationField, after: z.enum(['worker', 'controller']).default('worker') })
      .strict()
      .optional(),
    // Release prerequisites done by hand (see hopPrerequisites.ts): e.g. talos-1.13-nvidia-cdi.
    acknowledged: z
      .array(
        z.enum(['talos-1.13-nvidia-cdi'], { error: 'expected a known prerequisite: talos-1.13-nvidia-cdi' }),
      )
      .default([]),
    drain: z
      .object({
        timeout: durationField.default(240_000),
        force: z.boolean().default(false),
      })
      .strict()
      .prefault({}),
    nodeReadyTimeout: durationField.default(600_000),
    stabilisation: durationField.default(120_000),
    // How long a health gate waits for storage that recovers by itself (Ceph after an OSD node's
    // reboot: OSDs down, degraded placement groups, Rook's noout) before it refuses. Before each node
    // the whole cluster must be recovered; after a node only its own OSDs must be back.
    recoveryTimeout: durationField.default(30 * 60_000),
    // How long a step may stay silent before the server hands it to another worker: how soon a dead
    // worker's work goes on. The activities beat every few seconds and the worker sends a beat within
    // 10 s (src/worker/heartbeatThrottle.ts), hence at least 20 s.
    heartbeatTimeout: durationField
      .refine((ms) => ms >= 20_000 && ms <= 600_000, { error: 'expected between 20s and 10m' })
      .default(DEFAULT_HEARTBEAT_TIMEOUT_MS),
    healthChecks: z.array(z.enum(HEALTH_CHECKS)).default(['node', 'pods']),
    globalPatches: z.array(z.string().min(1)).default([]),
  })
  .strict();

/** The inventory's fields; inventorySchema adds the checks that span several fields. */
export const inventoryFields = z
  .object({
    apiVersion: z.literal('talos-upgrade/v1', { error: 'expected "talos-upgrade/v1"' }),
    cluster: z
      .object({
        name,
        kubernetesEndpoint: retired("the worker's kubeconfig names it"),
        talosEndpoints: retired("the worker's talosconfig names them"),
        vip: retired("the worker's kubeconfig names it"),
        // Checked against the nodes' addresses, a guard against a node listed from another cluster.
        network: z.cidrv4({ error: 'expected an IPv4 network such as 10.20.66.0/23' }).optional(),
        gitops: z.enum(['flux', 'argocd', 'none']).default('none'),
        storage: z.enum(['rook-ceph', 'external-ceph', 'none']).default('none'),
      })
      .strict(),
    repository: z
      .object({
        github: z.string().regex(/^[\w.-]+\/[\w.-]+$/, { error: 'expected owner/name' }),
        defaultBranch: z.string().min(1).default('main'),
        // How often the worker reads the default branch for merges that moved a version (a Temporal
        // Schedule): for a homelab GitHub cannot reach, and the safety net for a missed webhook delivery.
        poll: durationField
          .refine((ms) => ms >= 60_000, { error: 'poll at most once a minute (e.g. 5m)' })
          .optional(),
      })
      .strict()
      .optional(),
    proxmox: retired(NEVER_READ_HOST),
    images: z
      .object({
        installer: z.string().refine((form) => form.includes('{schematic}') && form.includes('{version}'), {
          error: 'expected an image form containing {schematic} and {version}',
        }),
        schematics: z
          .object({
            controlplane: z
              .string()
              .regex(/^[0-9a-f]{64}$/, { error: 'expected a 64-character schematic id' }),
            worker: z
              .string()
              .regex(/^[0-9a-f]{64}$/, { error: 'expected a 64-character schematic id' })
              .optional(),
          })
          .strict(),
        // The Image Factory whose schematics the nodes run (a host, as in images.installer), when
        // images.installer names a mirror of its installers: pre-flight reads the schematics there.
        factory: z
          .string()
          .regex(/^[\w.-]+(:\d+)?$/, { error: 'expected a host, such as factory.talos.dev' })
          .optional(),
      })
      .strict(),
    // Kernel arguments every node of a role must boot with (machine.install.extraKernelArgs): checked
    // after each upgrade, since Talos 1.13's install does not apply them on older GRUB nodes.
    kernelArgs: z
      .object({ controlplane: kernelArgsSchema.optional(), worker: kernelArgsSchema.optional() })
      .strict()
      .optional(),
    // Machine configs hold the cluster's secrets: files outside the repository, named here by path.
    // A file may be SOPS-encrypted (age): the worker decrypts it with sopsAgeKey, else with sops's own
    // default (SOPS_AGE_KEY_FILE in the worker's environment). `terraform` instead of a file: each
    // node's targeted apply configures its new VM (a talos_machine_configuration_apply among its
    // terraformAddresses, proven in pre-flight by the node's destroy plan).
    machineConfigs: z
      .object({
        controlplane: z.string().min(1),
        worker: z.string().min(1).optional(),
        sopsAgeKey: secretRef.optional(),
      })
      .strict()
      .optional(),
    terraform: z
      .object({
        directory: z.string().min(1),
        lockTimeout: durationField.default(300_000),
        // -var-file arguments every plan gets (a workspace's tfvars), relative to the directory.
        varFiles: z.array(z.string().min(1)).default([]),
        templates: z.array(templateSchema).default([]),
      })
      .strict()
      .optional(),
    versions: z
      .object({
        file: z.string().min(1).default('terraform/variables.tf'),
        patterns: z
          .object({
            talos: matchStrings('talos'),
            kubernetes: matchStrings('kubernetes'),
            controllerSchematic: matchStrings('controllerSchematic'),
            workerSchematic: matchStrings('workerSchematic'),
          })
          .strict()
          .prefault({}),
        // Two clusters in one file name their own variables (prod_talos_version, staging_talos_version).
        variables: z
          .object({
            talos: variableName('talos'),
            kubernetes: variableName('kubernetes'),
            controllerSchematic: variableName('controllerSchematic'),
            workerSchematic: variableName('workerSchematic'),
          })
          .strict()
          .prefault({}),
        releases: z.array(z.string()).optional(),
        kubernetesReleases: z.array(z.string()).optional(),
        kubernetesSupport: z.record(z.string().regex(/^\d+\.\d+$/), kubernetesRange).optional(),
      })
      .strict()
      .prefault({}),
    nodes: z.array(nodeSchema).min(1, { error: 'a cluster has at least one node' }),
    policy: policySchema.prefault({}),
    notifications: z.array(notificationSchema).default([]),
    backups: z
      .object({
        directory: z.string().min(1),
        keepTerraformStates: z.number().int().min(1).default(10),
      })
      .strict(),
  })
  .strict();

export type Inventory = z.output<typeof inventoryFields>;
export type InventoryInput = z.input<typeof inventoryFields>;
export type InventoryNode = Inventory['nodes'][number];
export type Nic = InventoryNode['nics'][number];
export type HealthCheckName = (typeof HEALTH_CHECKS)[number];
