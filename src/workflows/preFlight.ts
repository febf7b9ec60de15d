import { ApplicationFailure, log } from '@temporalio/workflow';
import {
  compareMinors,
  compareVersions,
  describeContractUses,
  etcdBelowFloor,
  FAILURE,
  isNvidia,
  minorOf,
  shortSchematic,
  unmetPrerequisites,
} from '../domain/index.js';
import type { ClusterDescription } from '../activities/cluster.js';
import { quick } from './activityOptions.js';
import type { waits as defaultWaits } from './activityOptions.js';
import type { ClusterRun } from './clusterRun.js';
import type { RebuildPlan } from './types.js';

/**
 * Before anything is touched: the hops' prerequisites, the installer images of every version a hop
 * goes to and every version an undo would go back to (each keeping the extensions its node loads), each recreated node's rebuild (its Terraform
 * plans, its machine config and the kernel arguments its new VM boots), the GPU patches, etcd with all
 * its members, the cluster's health, and a first Kubernetes step's dry run. Any failure here halts the run with nothing changed. Returns
 * what it checked, for the approver.
 */
export async function preFlight(
  run: ClusterRun,
  cluster: ClusterDescription,
  /** The cluster's waits (its policy.heartbeatTimeout), as the run made them. */
  waits: typeof defaultWaits,
  /** The Kubernetes version of the plan's first step, when it comes before any Talos hop. */
  kubernetesFirst?: string,
): Promise<string> {
  const name = run.request.cluster;
  const controllers = cluster.nodes.filter((n) => n.role === 'controlplane');
  run.phase('PreFlight');
  // Said again on each pass (it runs again after an approval): never an earlier pass's "passed".
  run.progress.preFlight = 'running';
  // Runs that described their cluster before prerequisites existed (no `acknowledged`) replay without.
  const unmet = cluster.acknowledged
    ? unmetPrerequisites(run.hops, {
        gpuNodes: cluster.nodes.filter((n) => n.gpuModel && isNvidia(n.gpuModel)).map((n) => n.name),
        acknowledged: cluster.acknowledged,
      })
    : [];
  if (unmet.length)
    throw ApplicationFailure.nonRetryable(unmet.map((u) => u.message).join(' '), FAILURE.PrerequisiteMissing);
  const found: string[] = [];
  // A merge's run plans, and reads configs and patches, from the merged files: the clone goes there first.
  if (run.request.commit) {
    const clone = await waits.syncTerraformRoot({
      cluster: name,
      commit: run.request.commit,
      ...(run.request.dryRun ? { dryRun: true } : {}),
    });
    found.push(clone.summary);
  }
  // An undo goes back to the hop's `from`: its installer must exist as surely as the target's.
  const versions = [...new Set(run.hops.flatMap((hop) => [hop.from, hop.to]))];
  for (const version of versions) await quick.checkInstallerImages({ cluster: name, version });
  found.push(`installers of Talos ${versions.join(', ')} present`);
  // What each installer leaves out: a GPU worker given its role's schematic would lose its drivers.
  await quick.proveNodeExtensions({ cluster: name, nodes: cluster.nodes.map((n) => n.name) });
  found.push(`every node's installer keeps the extensions it loads`);
  const recreated = cluster.nodes.map((n) => n.name);
  const cattle = run.hops.filter((hop) => hop.strategy === 'cattle');
  if (cattle.length > 0) {
    // A rebuilt VM boots the hop's target, an undone one its start: the oldest of them must read the
    // configs (Talos only adds document kinds).
    const [oldest = ''] = cattle.flatMap((hop) => [hop.from, hop.to]).sort(compareVersions);
    await quick.proveMachineConfigs({ cluster: name, nodes: recreated, version: oldest });
    const booted = await quick.proveRebuiltKernelArgs({ cluster: name, nodes: recreated });
    const plans: RebuildPlan[] = [];
    for (const version of new Set(cattle.map((hop) => hop.to))) {
      const proven = await waits.proveNodeRebuilds({
        cluster: name,
        version,
        nodes: recreated,
        configsReadBy: oldest,
      });
      log.info('each node rebuild is proven by its saved plans', { version, nodes: proven.nodes });
      plans.push(...proven.nodes.map((n) => ({ ...n, version })));
    }
    run.progress.rebuildPlans = plans;
    found.push(
      `machine configs valid, ${kernelArgsProof(booted.schematics)}, and each node's rebuild planned (${recreated.length} nodes)`,
    );
  }
  // A Terraform root whose config contract follows the version: 1.14's contract writes other documents.
  if (run.hops.some((hop) => compareMinors(minorOf(hop.to), '1.14') >= 0)) {
    const contract = await quick.readConfigContract({ cluster: name });
    if (contract.uses.length) {
      const warning = describeContractUses(contract.uses, contract.variable);
      log.warn('the config contract follows the Talos version', { warning });
      found.push(`WARNING: ${warning}`);
    }
  }
  await quick.validateGpuPatches({ cluster: name });
  const etcd = await quick.checkEtcdHealth({ cluster: name });
  // Every controller is a member, whichever the run upgrades (`start --nodes` may name some).
  const members = cluster.scope?.controllers ?? controllers.length;
  if (etcd.unhealthy.length > 0 || etcd.members.length !== members) {
    throw ApplicationFailure.nonRetryable(
      `etcd is not healthy with all members (${etcd.healthy.length}/${etcd.members.length} healthy, ${members} control-plane nodes)`,
      FAILURE.QuorumAtRisk,
    );
  }
  // A pinned etcd the target Talos no longer runs (1.14: 3.6 and later).
  const etcdTooOld = etcdBelowFloor(run.hops, etcd.versions ?? {});
  if (etcdTooOld) throw ApplicationFailure.nonRetryable(etcdTooOld, FAILURE.PrerequisiteMissing);
  const health = await waits.runHealthChecks({ cluster: name });
  // Storage still recovering passes here: the first node's gate waits for it (a dry run does not).
  if (health.failed.some((f) => !f.recovering))
    throw ApplicationFailure.nonRetryable(
      `the cluster is not healthy before the upgrade: ${health.summary}`,
      FAILURE.HealthCheckFailed,
    );
  found.push(`etcd ${etcd.healthy.length}/${members} members healthy`, `health: ${health.summary}`);
  // A Kubernetes step first: talosctl's own dry run, with its pull of every image on every node, before
  // the approval and the snapshot. A later step waits for the Talos hops it needs: its dry run comes then.
  if (kubernetesFirst) {
    const dry = await waits.checkKubernetesUpgrade({
      cluster: name,
      version: kubernetesFirst,
      ...(run.request.dryRun ? { pull: false } : {}),
    });
    found.push(dry.summary);
  }
  run.progress.preFlight = `passed: ${found.join('; ')}`;
  run.details();
  return run.progress.preFlight;
}

/** What the kernel-argument proof read, for the approver: the schematics and the arguments they carry. */
function kernelArgsProof(schematics: Record<string, string[]>): string {
  const read = Object.entries(schematics);
  if (read.length === 0) return 'no kernel arguments to carry';
  return `kernel arguments carried by ${read.map(([id, args]) => `schematic ${shortSchematic(id)} (${args.join(' ')})`).join(', ')}`;
}
