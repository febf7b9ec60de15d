import { hostname } from 'node:os';
import { constants } from 'node:fs';
import { access, readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { AuthorizationV1Api, CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { configContractUses } from '../../activities/configContract.js';
import { loadKubeconfig, talosView } from '../../activities/discovery/cluster.js';
import { pathExists, terraformShow } from '../../activities/discovery/repository.js';
import type { ActivityDeps, ClusterAccess } from '../../activities/index.js';
import { createActivities } from '../../activities/index.js';
import { runCommand } from '../../activities/runCommand.js';
import { talosVariable, versionsFilePath } from '../../activities/versionsFile.js';
import { stateResources } from '../../domain/discovery/terraformNodes.js';
import { REGISTRY_UNANSWERED, releaseChecks, repositoryCheck } from './sourceChecks.js';
import {
  compareVersions,
  configuredByTerraform,
  describeContractUses,
  nodeAddresses,
  parseVersion,
  readTerraformVersions,
  recreatesVms,
  schematicOf,
  shortSchematic,
  unsupportedTalos,
  type Inventory,
} from '../../domain/index.js';

/** One line of the doctor's report: what was checked, what was found, and what to do about it. */
export interface CheckResult {
  cluster?: string;
  check: string;
  ok: boolean;
  /** Passed, with something the user should change (printed as a warning, not counted as failed). */
  warning?: boolean;
  detail: string;
  fix?: string;
}

type Report = (result: CheckResult) => void;
type Activities = ReturnType<typeof createActivities>;

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * What the product asks of the Kubernetes API, as SelfSubjectAccessReview attributes: cordon and
 * uncordon, drain (list and evict pods; delete them with drain.force), Talos's add-ons before upgrade-k8s, the probe pods of the dns and network gates, and the gitops and storage gates' resources
 * (the storage gate also lists OSD pods and Rook's PodDisruptionBudgets).
 */
function permissions(inventory: Inventory) {
  const checks = new Set(inventory.policy.healthChecks);
  return [
    { verb: 'get', resource: 'nodes' },
    { verb: 'list', resource: 'nodes' },
    { verb: 'patch', resource: 'nodes' },
    { verb: 'list', resource: 'pods' },
    { verb: 'create', resource: 'pods', subresource: 'eviction' },
    ...(inventory.policy.drain.force ? [{ verb: 'delete', resource: 'pods' }] : []),
    // The drain waits for the moved pods' volumes to detach (their claims name the volumes that stay).
    { verb: 'list', resource: 'volumeattachments', group: 'storage.k8s.io' },
    { verb: 'get', resource: 'persistentvolumeclaims' },
    // Before upgrade-k8s: Talos's add-ons (CoreDNS, kube-proxy, flannel) are rolled out.
    { verb: 'list', resource: 'deployments', group: 'apps', namespace: 'kube-system' },
    { verb: 'list', resource: 'daemonsets', group: 'apps', namespace: 'kube-system' },
    ...(checks.has('dns') || checks.has('network')
      ? [
          { verb: 'create', resource: 'pods', namespace: 'default' },
          { verb: 'get', resource: 'pods', namespace: 'default' },
          { verb: 'delete', resource: 'pods', namespace: 'default' },
        ]
      : []),
    ...(checks.has('flux')
      ? [
          { verb: 'list', resource: 'kustomizations', group: 'kustomize.toolkit.fluxcd.io' },
          { verb: 'list', resource: 'helmreleases', group: 'helm.toolkit.fluxcd.io' },
        ]
      : []),
    ...(checks.has('argocd') ? [{ verb: 'list', resource: 'applications', group: 'argoproj.io' }] : []),
    ...(checks.has('ceph')
      ? [
          { verb: 'list', resource: 'cephclusters', group: 'ceph.rook.io' },
          // Rook's disruption budgets: whether it holds OSD disruptions until every PG is clean.
          { verb: 'list', resource: 'poddisruptionbudgets', group: 'policy' },
        ]
      : []),
  ];
}

async function kubernetesChecks(name: string, access: ClusterAccess, report: Report) {
  let kc: KubeConfig;
  try {
    kc = loadKubeconfig(access.kubeconfig);
  } catch (error) {
    report({ cluster: name, check: 'kubernetes', ok: false, detail: message(error) });
    return;
  }
  const core = kc.makeApiClient(CoreV1Api);
  const nodes = await bounded(core.listNode(), 'listing the Nodes').catch((error: unknown) => error as Error);
  if (nodes instanceof Error) {
    report({
      cluster: name,
      check: 'kubernetes',
      ok: false,
      detail: `listing the Nodes with ${access.kubeconfig} failed: ${nodes.message}`,
      fix: 'give the worker a kubeconfig that reaches the cluster (KUBECONFIG, or <credentials-dir>/<cluster>/kubeconfig)',
    });
    return;
  }
  const byName = new Map(nodes.items.map((n) => [n.metadata?.name ?? '', n]));
  const missing = access.inventory.nodes.filter((n) => !byName.has(n.name)).map((n) => n.name);
  const notReady = access.inventory.nodes
    .filter((n) => {
      const node = byName.get(n.name);
      // Unknown is a kubelet that stopped posting; no condition at all is no kubelet yet.
      return node && node.status?.conditions?.find((c) => c.type === 'Ready')?.status !== 'True';
    })
    .map((n) => n.name);
  const unknown = [...byName.keys()].filter((n) => !access.inventory.nodes.some((i) => i.name === n));
  report({
    cluster: name,
    check: 'kubernetes nodes',
    ok: missing.length === 0 && notReady.length === 0,
    detail:
      missing.length || notReady.length
        ? [
            missing.length ? `no Node named ${missing.join(', ')}` : '',
            notReady.length ? `not Ready: ${notReady.join(', ')}` : '',
          ]
            .filter(Boolean)
            .join('; ')
        : `${access.inventory.nodes.length} Nodes, all Ready${unknown.length ? `; not in the inventory (never upgraded): ${unknown.join(', ')}` : ''}`,
    ...(missing.length
      ? {
          fix: 'nodes[].name is the Kubernetes Node name: correct it, or write the inventory again with talos-upgrade init',
        }
      : notReady.length
        ? { fix: 'an upgrade starts only on a healthy cluster: bring those nodes back first' }
        : {}),
  });
  const authz = kc.makeApiClient(AuthorizationV1Api);
  const denied: string[] = [];
  for (const attributes of permissions(access.inventory)) {
    const review = await bounded(
      authz.createSelfSubjectAccessReview({ body: { spec: { resourceAttributes: attributes } } }),
      'a SelfSubjectAccessReview',
    ).catch((error: unknown) => error as Error);
    const what = `${attributes.verb} ${attributes.resource}${'subresource' in attributes ? `/${attributes.subresource}` : ''}`;
    if (review instanceof Error) denied.push(`${what} (${review.message})`);
    else if (!review.status?.allowed) denied.push(what);
  }
  report({
    cluster: name,
    check: 'kubernetes permissions',
    ok: denied.length === 0,
    detail: denied.length ? `not allowed: ${denied.join(', ')}` : 'every call the product makes is allowed',
    ...(denied.length
      ? { fix: "grant the kubeconfig's user these verbs (docs/operations.md lists the product's calls)" }
      : {}),
  });
  if (access.inventory.policy.healthChecks.includes('ceph')) await cephMaintenanceCheck(name, kc, report);
}

/**
 * Rook's managed disruption budgets (CephCluster spec.disruptionManagement.managePodBudgets, on in
 * Rook's example cluster.yaml): with them Rook holds a second OSD host's drain until every placement
 * group is clean, and keeps a drained host's OSDs `noout` for osdMaintenanceTimeout (30 minutes by
 * default; pkg/operator/ceph/disruption/clusterdisruption), so a node's reboot or rebuild is
 * maintenance Ceph waits out. Without them nothing sets noout: 10 minutes after a host's OSDs went down
 * (mon_osd_down_out_interval) Ceph marks them out and moves their data, hours of backfill for a node
 * that comes back minutes later. An external cluster's (Proxmox's own Ceph) are not Rook's to manage.
 */
async function cephMaintenanceCheck(name: string, kc: KubeConfig, report: Report): Promise<void> {
  const listed = await bounded<unknown>(
    kc
      .makeApiClient(CustomObjectsApi)
      .listClusterCustomObject({ group: 'ceph.rook.io', version: 'v1', plural: 'cephclusters' }),
    'listing the CephClusters',
  ).catch((error: unknown) => error as Error);
  if (listed instanceof Error) {
    report({
      cluster: name,
      check: 'ceph maintenance',
      ok: false,
      detail: `the CephClusters could not be read: ${listed.message}`,
      fix: 'let the worker list cephclusters.ceph.rook.io (the kubernetes permissions check names what is missing), or take ceph out of policy.healthChecks when the cluster runs no Rook',
    });
    return;
  }
  type CephCluster = {
    metadata?: { name?: string; namespace?: string };
    spec?: {
      external?: { enable?: boolean };
      disruptionManagement?: { managePodBudgets?: boolean; osdMaintenanceTimeout?: number };
    };
  };
  const managed = ((listed as { items?: CephCluster[] }).items ?? []).filter(
    (c) => !c.spec?.external?.enable,
  );
  if (managed.length === 0) return;
  const named = (c: CephCluster) => `${c.metadata?.namespace ?? ''}/${c.metadata?.name ?? ''}`;
  const unmanaged = managed.filter((c) => c.spec?.disruptionManagement?.managePodBudgets !== true);
  report({
    cluster: name,
    check: 'ceph maintenance',
    ok: unmanaged.length === 0,
    detail: unmanaged.length
      ? `Rook does not manage the OSDs' disruption budgets of ${unmanaged.map(named).join(', ')}: nothing keeps a drained node's OSDs noout, and 10 minutes after they went down Ceph marks them out and moves their data`
      : managed
          .map(
            (c) =>
              `${named(c)}: Rook holds a drained node's OSDs noout for ${c.spec?.disruptionManagement?.osdMaintenanceTimeout ?? 30} min and one OSD host down at a time`,
          )
          .join('; '),
    ...(unmanaged.length
      ? {
          fix: 'set spec.disruptionManagement.managePodBudgets: true in the CephCluster (Rook then sets and clears noout around each drain), or set noout yourself for the run (ceph osd set noout) and clear it after',
        }
      : {}),
  });
}

async function talosChecks(
  name: string,
  access: ClusterAccess,
  deps: ActivityDeps,
  activities: Activities,
  report: Report,
) {
  const { inventory } = access;
  const versions = new Map<string, string>();
  // Nodes whose row says they run another schematic: the extensions check would say it again.
  const schematicMismatch = new Set<string>();
  for (const node of inventory.nodes) {
    const view = await talosView(deps.talosctl, access.talosconfig, node.name, node.ip).catch(
      (error: unknown) => error as Error,
    );
    if (view instanceof Error) {
      report({
        cluster: name,
        check: `talos ${node.name}`,
        ok: false,
        detail: view.message,
        fix: `check that ${node.ip} is the node's address and that the talosconfig (TALOSCONFIG, or <credentials-dir>/<cluster>/talosconfig) is this cluster's`,
      });
      continue;
    }
    versions.set(node.name, view.talosVersion);
    const problems: string[] = [];
    const fixes: string[] = [];
    const unsupported = unsupportedTalos(parseVersion(view.talosVersion), `${node.name}:`);
    if (unsupported) problems.push(unsupported);
    const schematic = schematicOf(inventory, node);
    // What it runs: its image's schematic extension, else the installer its config names.
    const runs = view.runningSchematic ?? view.installer?.schematic;
    if (runs && runs !== schematic) {
      schematicMismatch.add(node.name);
      problems.push(`it runs schematic ${runs}, the inventory says ${schematic}`);
      fixes.push(`give the node its own schematic: ${runs} (a pets upgrade would install the other)`);
    }
    for (const [what, check] of [
      ['NICs', () => activities.checkNodeNics({ cluster: name, node: node.name })],
      ['kernel arguments', () => activities.checkKernelArgs({ cluster: name, node: node.name })],
    ] as const) {
      const failed = await check().then(
        () => undefined,
        (error: unknown) => message(error),
      );
      if (failed) {
        problems.push(failed);
        fixes.push(
          what === 'NICs'
            ? "write the node's NICs as Talos names them (talosctl get links)"
            : "list only the arguments the node boots with (talosctl get kernelcmdlines), or fix its config's machine.install.extraKernelArgs",
        );
      }
    }
    report({
      cluster: name,
      check: `talos ${node.name}`,
      ok: problems.length === 0,
      detail: problems.length
        ? problems.join('; ')
        : `Talos ${view.talosVersion}, NICs, schematic and kernel arguments as the inventory says`,
      ...(fixes.length ? { fix: fixes.join('; ') } : {}),
    });
  }
  const etcd = await activities.checkEtcdHealth({ cluster: name }).catch((error: unknown) => error as Error);
  const controllers = inventory.nodes.filter((n) => n.role === 'controlplane').length;
  report(
    etcd instanceof Error
      ? { cluster: name, check: 'etcd', ok: false, detail: etcd.message }
      : {
          cluster: name,
          check: 'etcd',
          ok:
            etcd.unhealthy.length === 0 && etcd.members.length === controllers && etcd.learners.length === 0,
          detail: `${etcd.healthy.length}/${etcd.members.length} members healthy${etcd.learners.length ? `, learners (no vote yet): ${etcd.learners.join(', ')}` : ''}, ${controllers} control-plane nodes`,
          ...(etcd.members.length !== controllers
            ? {
                fix: 'every control-plane node must be a voting etcd member: remove stale members (talosctl etcd remove-member)',
              }
            : etcd.learners.length
              ? {
                  fix: 'Talos promotes a joining member within 10 minutes of its etcd starting: wait and run doctor again; if it stays a learner, read its etcd log (talosctl -n <node> logs etcd) and restart etcd there (talosctl -n <node> service etcd restart)',
                }
              : etcd.unhealthy.length
                ? {
                    fix: `read the unhealthy members' logs (talosctl -n <node> logs etcd): no control plane moves while etcd is not healthy`,
                  }
                : {}),
        },
  );
  return { versions, schematicMismatch };
}

async function terraformChecks(
  name: string,
  access: ClusterAccess,
  deps: ActivityDeps,
  running: string | undefined,
  report: Report,
) {
  const { terraform } = access.inventory;
  if (!terraform) return;
  const dir = resolve(access.baseDir, terraform.directory);
  if (!(await pathExists(join(dir, '.terraform')))) {
    report({
      cluster: name,
      check: 'terraform state',
      ok: false,
      detail: `${dir} is not initialised here`,
      fix: `run terraform init in ${dir} on the worker's machine (the doctor changes nothing)`,
    });
    return;
  }
  const show = await terraformShow(deps.terraform, dir).catch((error: unknown) => error as Error);
  if (show instanceof Error) {
    report({
      cluster: name,
      check: 'terraform state',
      ok: false,
      detail: show.message,
      fix: `run terraform plan in ${dir} and fix what it says`,
    });
    return;
  }
  const addresses = stateResources(show).map((r) => r.address);
  const inState = (address: string) => addresses.some((a) => a === address || a.startsWith(`${address}.`));
  const absent = [
    ...access.inventory.nodes.flatMap((n) => nodeAddresses(n).map((a) => ({ owner: n.name, a }))),
    ...terraform.templates.map((t) => ({ owner: `template ${t.name}`, a: t.address })),
  ].filter(({ a }) => !inState(a));
  report({
    cluster: name,
    check: 'terraform state',
    ok: absent.length === 0,
    detail: absent.length
      ? `not in the state: ${absent.map(({ owner, a }) => `${a} (${owner})`).join(', ')}`
      : `every node's and template's address is in the state of ${terraform.directory}`,
    ...(absent.length
      ? {
          fix: 'use the addresses terraform state list shows, or write the inventory again with talos-upgrade init',
        }
      : {}),
  });
  if (!running || absent.length) return;
  // At the version the nodes run, the nodes' own resources must plan no change: else the first
  // rebuild would also apply whatever drifted.
  const targets = access.inventory.nodes.flatMap((n) => nodeAddresses(n)).map((a) => `-target=${a}`);
  const plan = await runCommand(
    deps.terraform,
    [
      `-chdir=${dir}`,
      'plan',
      '-input=false',
      '-no-color',
      '-lock=false',
      '-detailed-exitcode',
      // The version last: Terraform takes the last of -var and -var-file.
      ...terraform.varFiles.map((f) => `-var-file=${f}`),
      ...(await talosVariable(access, running)),
      ...targets,
    ],
    { timeoutMs: 600_000, input: '' },
  );
  const changes = [...plan.stdout.matchAll(/^\s*# (\S+) (will be|must be) ([^\n]+)$/gm)].map(
    (m) => `${m[1]} ${m[3]}`,
  );
  report({
    cluster: name,
    check: 'terraform plan',
    ok: plan.exitCode === 0,
    detail:
      plan.exitCode === 0
        ? `no change to any node at Talos ${running}`
        : plan.exitCode === 2
          ? `at Talos ${running}, Terraform would change: ${changes.join('; ') || 'see terraform plan'}`
          : `terraform plan failed: ${plan.stderr.trim().split('\n').slice(-3).join(' ')}`,
    ...(plan.exitCode === 2
      ? {
          fix: 'make the Terraform files match what runs (a rebuild would apply the difference too), then run doctor again',
        }
      : plan.exitCode !== 0
        ? { fix: `run terraform plan in ${dir} and fix what it says` }
        : {}),
  });
}

async function fileChecks(
  name: string,
  access: ClusterAccess,
  activities: Activities,
  running: string | undefined,
  schematicMismatch: ReadonlySet<string>,
  report: Report,
) {
  const { inventory } = access;
  const file = await versionsFilePath(access);
  const read = await readFile(file, 'utf8')
    .then((text) => readTerraformVersions(text, inventory.versions))
    .catch((error: unknown) => error as Error);
  const fileVersion = read instanceof Error ? undefined : read.talosVersion;
  report({
    cluster: name,
    check: 'versions file',
    ok: !(read instanceof Error) && !!fileVersion && (!running || fileVersion.replace(/^v/, '') === running),
    detail:
      read instanceof Error
        ? `${file}: ${read.message}`
        : !fileVersion
          ? `${inventory.versions.file} has no ${inventory.versions.variables.talos}`
          : `${inventory.versions.file} says Talos ${fileVersion}${running ? `, the nodes run ${running}` : ''}`,
    ...(read instanceof Error || !fileVersion || (running && fileVersion.replace(/^v/, '') !== running)
      ? {
          fix: `keep ${inventory.versions.variables.talos} in ${inventory.versions.file} at the version the nodes run (runs plan from the nodes; Renovate bumps the file)`,
        }
      : {}),
  });
  if (inventory.terraform && recreatesVms(inventory)) {
    const files = inventory.nodes.filter((n) => !configuredByTerraform(inventory, n)).map((n) => n.name);
    // A rebuild's undo boots the version the nodes run: the least a config must be readable by.
    const version = running ?? fileVersion?.replace(/^v/, '');
    const proof = files.length
      ? await activities
          .proveMachineConfigs({ cluster: name, nodes: files, ...(version ? { version } : {}) })
          .catch((error: unknown) => error as Error)
      : { files: [] };
    report({
      cluster: name,
      check: 'machine configs',
      ok: !(proof instanceof Error),
      detail:
        proof instanceof Error
          ? proof.message
          : `${proof.files.length} file(s) valid${files.length < inventory.nodes.length ? '; the rest are configured by Terraform' : ''}`,
      ...(proof instanceof Error
        ? {
            fix: /VLAN link/.test(proof.message)
              ? 'define each VLAN the nodes have in their config file or in a patch of policy.globalPatches (machine.network.interfaces[].vlans, or a VLANConfig document on Talos 1.12 and later)'
              : /cannot read:/.test(proof.message)
                ? `write those documents in the form Talos ${version ?? 'that runs'} knows (a VLAN in machine.network.interfaces[].vlans), or apply them as a patch once the nodes run a Talos that knows them`
                : 'point machineConfigs at the files talosctl gen config wrote for this cluster, readable by the worker',
          }
        : {}),
    });
  }
  if (inventory.terraform && recreatesVms(inventory)) {
    const booted = await activities
      .proveRebuiltKernelArgs({ cluster: name, nodes: inventory.nodes.map((n) => n.name) })
      .catch((error: unknown) => error as Error);
    const read = booted instanceof Error ? [] : Object.entries(booted.schematics);
    report({
      cluster: name,
      check: 'rebuilt kernel arguments',
      ok: !(booted instanceof Error),
      detail:
        booted instanceof Error
          ? booted.message
          : read.length
            ? `a rebuilt VM boots every argument the inventory checks: ${read.map(([id, args]) => `schematic ${shortSchematic(id)} carries ${args.join(' ')}`).join('; ')}`
            : 'the inventory checks no kernel arguments',
      ...(booted instanceof Error ? { fix: rebuiltKernelArgsFix(booted) } : {}),
    });
  }
  if (running) {
    const images = await activities
      .checkInstallerImages({ cluster: name, version: running })
      .catch((error: unknown) => error as Error);
    report({
      cluster: name,
      check: 'installers',
      ok: !(images instanceof Error),
      detail:
        images instanceof Error
          ? images.message
          : `${images.images.length} installer(s) of Talos ${running} exist (what an undo reinstalls)`,
      ...(images instanceof Error
        ? {
            // ImageMissing is the registry's answer; anything else is a registry that did not answer.
            fix:
              (images as { type?: string }).type === 'ImageMissing'
                ? 'check images.installer and the schematics against what the nodes run (talos-upgrade init shows them)'
                : REGISTRY_UNANSWERED,
          }
        : {}),
    });
  }
  // A node whose talos row named its schematic is said once, there.
  const elsewhere = inventory.nodes.filter((n) => schematicMismatch.has(n.name)).map((n) => n.name);
  const seeRows = `another schematic: see ${elsewhere.map((n) => `talos ${n}`).join(', ')}`;
  const who = elsewhere.length ? `every node but ${elsewhere.join(', ')} (${seeRows})` : 'every node';
  const extensions = await activities
    .proveNodeExtensions({
      cluster: name,
      nodes: inventory.nodes.filter((n) => !schematicMismatch.has(n.name)).map((n) => n.name),
      tolerateUnanswered: true,
    })
    .catch((error: unknown) => error as Error);
  report({
    cluster: name,
    check: 'extensions',
    ok: !(extensions instanceof Error) && extensions.unanswered.length === 0,
    detail:
      extensions instanceof Error
        ? extensions.message
        : extensions.unanswered.length
          ? `${extensions.unanswered.join(', ')} did not answer talosctl get extensions`
          : elsewhere.length === inventory.nodes.length
            ? `no node left to check (${seeRows})`
            : extensions.schematics.length
              ? `${who}: its installer keeps the extensions its image loads (schematics read: ${extensions.schematics.join(', ')})`
              : `${who} runs the schematic the inventory installs: its installer keeps the extensions it loads`,
    ...(extensions instanceof Error || extensions.unanswered.length
      ? { fix: extensionsFix(extensions) }
      : {}),
  });
  const backups = resolve(access.baseDir, inventory.backups.directory);
  const problem = await unwritable(backups);
  report({
    cluster: name,
    check: 'backups',
    ok: !problem,
    detail:
      problem ?? `${backups} is writable${(await pathExists(backups)) ? '' : ' (the worker creates it)'}`,
    ...(problem ? { fix: `let the worker's user write ${backups}, or set backups.directory` } : {}),
  });
}

/** Why the worker could not write `dir` (it creates it when missing), or undefined: nothing is created here. */
async function unwritable(dir: string): Promise<string | undefined> {
  for (let current = dir; ; current = dirname(current)) {
    const info = await stat(current).catch(() => undefined);
    if (info) {
      if (!info.isDirectory()) return `${current} is not a directory`;
      return access(current, constants.W_OK).then(
        () => undefined,
        () => `${current} is not writable`,
      );
    }
    if (dirname(current) === current) return `no folder of ${dir} exists`;
  }
}

/** Every check of one cluster, reported one by one as they finish. */
export async function clusterChecks(
  name: string,
  access: ClusterAccess,
  deps: ActivityDeps,
  report: Report,
  options: { notifyTest?: boolean } = {},
) {
  // The worker's own checks, bound once: the doctor calls them as the worker would.
  const activities = createActivities(deps);
  await kubernetesChecks(name, access, report);
  const { versions, schematicMismatch } = await talosChecks(name, access, deps, activities, report);
  // The oldest version a node runs: what a run would start from.
  const running = [...versions.values()].sort(compareVersions)[0];
  await terraformChecks(name, access, deps, running, report);
  await contractCheck(name, access, report);
  await fileChecks(name, access, activities, running, schematicMismatch, report);
  await releaseChecks(name, access, activities, running, report);
  await repositoryCheck(name, access, deps, report);
  if (options.notifyTest) await notificationCheck(name, access, activities, report);
}

/**
 * Whether the Terraform root feeds the Talos version into talos_machine_configuration's contract: a
 * warning (runs still work; pre-flight says it again before a hop onto 1.14).
 */
async function contractCheck(name: string, access: ClusterAccess, report: Report) {
  if (!access.inventory.terraform) return;
  const uses = await configContractUses(access).catch((error: unknown) => error as Error);
  const variable = access.inventory.versions.variables.talos;
  if (uses instanceof Error)
    return report({
      cluster: name,
      check: 'config contract',
      ok: true,
      warning: true,
      detail: `the Terraform files could not be read for it: ${uses.message}`,
      fix: 'run doctor again where the Terraform root can be read',
    });
  report({
    cluster: name,
    check: 'config contract',
    ok: true,
    ...(uses.length
      ? {
          warning: true,
          detail: describeContractUses(uses, variable),
          fix: `write talos_version = "v<the version the cluster was created with>" in ${uses.map((u) => u.address).join(', ')}`,
        }
      : { detail: `no talos_machine_configuration's talos_version follows ${variable}` }),
  });
}

/**
 * `--notify-test`: a test notification to every target of the inventory, through the worker's own
 * notify activity (its secrets, its retries on 429). The only check that sends anything.
 */
async function notificationCheck(
  name: string,
  access: ClusterAccess,
  activities: ReturnType<typeof createActivities>,
  report: Report,
) {
  const targets = access.inventory.notifications;
  if (!targets.length) {
    report({
      cluster: name,
      check: 'notifications',
      ok: false,
      detail: 'the inventory names no notification target, so there is nothing to test',
      fix: 'add one under notifications (type discord or webhook, url from a file or env; docs/operations.md), or leave out --notify-test',
    });
    return;
  }
  const result = await activities.notify({
    cluster: name,
    event: {
      kind: 'test',
      message: `talos-upgrade doctor on ${hostname()}: notifications for ${name} reach this channel.`,
    },
  });
  report({
    cluster: name,
    check: 'notifications',
    ok: result.failed.length === 0,
    detail: result.failed.length
      ? `${result.failed.map((f) => `${f.target}: ${f.error}`).join('; ')} (${result.delivered} of ${targets.length} delivered)`
      : `a test notification delivered to each of ${targets.length} target(s)`,
    ...(result.failed.length
      ? {
          fix: 'check each failing target: its URL secret (notifications[].url, a file or an environment variable the worker has) and that this machine reaches it',
        }
      : {}),
  });
}

/** A call to an outside system that must answer within `ms`, or fail saying which. */
function bounded<T>(call: Promise<T>, what: string, ms = 20_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms / 1000} s`)), ms);
  });
  return Promise.race([call, late]).finally(() => clearTimeout(timer));
}

/** The fix when the Image Factory refuses a schematic: unknown there, or the host is no factory. */
const SCHEMATIC_UNKNOWN_FIX =
  'check the schematic ids against what the nodes run (talos-upgrade init shows them), and when images.installer names a mirror, set images.factory to the Image Factory (factory.talos.dev)';

/**
 * The fix of a failed 'extensions' check: a refusal names the nodes that would lose extensions; a
 * ValidationFailed without them is the factory's answer about a schematic; nodes that did not answer
 * are the talos checks' to explain.
 */
function extensionsFix(result: Error | { unanswered: string[] }): string {
  if (!(result instanceof Error))
    return 'see the talos <node> checks of the nodes named: their Talos API did not answer';
  const failure = result as { type?: string; details?: unknown[] };
  if ((failure.details?.[0] as { losses?: unknown } | undefined)?.losses)
    return "give each node named the schematic it runs (nodes[].schematic; talos-upgrade init writes it from the node's extensions)";
  if (failure.type === 'ValidationFailed') return SCHEMATIC_UNKNOWN_FIX;
  return "check that the nodes answer talosctl and that this machine reaches the Image Factory (the installers' host, or images.factory)";
}

/**
 * The fix of a failed 'rebuilt kernel arguments' check: a refusal carries the nodes' gaps; a
 * ValidationFailed without them is the factory's answer (an unknown schematic, a host that is no
 * Image Factory); anything else is a factory that did not answer.
 */
function rebuiltKernelArgsFix(error: Error): string {
  const failure = error as { type?: string; details?: unknown[] };
  if ((failure.details?.[0] as { gaps?: unknown } | undefined)?.gaps)
    return "add the arguments to the nodes' schematic (customization.extraKernelArgs) and give the inventory its new id, or upgrade those nodes in place (--strategy pets)";
  if (failure.type === 'ValidationFailed') return SCHEMATIC_UNKNOWN_FIX;
  return "the Image Factory did not answer: check that this machine reaches the installers' host (proxy, DNS), then run doctor again";
}
