import { readFile } from 'node:fs/promises';
import {
  kubernetesNeedsReleases,
  kubernetesReleasesOf,
  kubernetesSupportOf,
  parseReleaseListText,
  parseVersion,
  planningPolicyOf,
  planUpgrade,
  unsupportedTalos,
  PlanError,
  releasesOf,
  splitTalosHops,
  unmetPrerequisites,
  isNvidia,
  VersionError,
  type Inventory,
  ReleaseList,
  type Strategy,
  type UpgradePlan,
} from '../../domain/index.js';
import { GitHubReleasesError } from '../../activities/githubReleases.js';
import { UserError } from '../cliErrors.js';
import { kubernetesReleasesFromEnv, talosReleasesFromEnv } from '../talosReleases.js';
import { loadInventoryFile } from '../inventoryFile.js';

export interface PlanOptions {
  inventory: string;
  from: string;
  to: string;
  k8sFrom?: string;
  k8sTo?: string;
  releases?: string;
  k8sReleases?: string;
  strategy?: Strategy;
  json?: boolean;
}

async function readReleaseFile(file: string): Promise<ReleaseList> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new UserError(`cannot read the release list ${file}: ${(error as Error).message}`);
  }
  try {
    return parseReleaseListText(text, file);
  } catch (error) {
    throw new UserError((error as Error).message);
  }
}

function describeNodes(inventory: Inventory): string {
  const controllers = inventory.nodes.filter((node) => node.role === 'controlplane').length;
  return `${controllers} controllers, ${inventory.nodes.length - controllers} workers`;
}

/** What the run's pre-flight will refuse: release prerequisites the inventory has not acknowledged. */
function prerequisitesOf(plan: UpgradePlan, inventory: Inventory) {
  return unmetPrerequisites(plan.hops, {
    gpuNodes: inventory.nodes.filter((n) => n.gpu && isNvidia(n.gpu.model)).map((n) => n.name),
    acknowledged: inventory.policy.acknowledged,
  });
}

export function formatPlanText(plan: UpgradePlan, inventory: Inventory): string {
  const lines: string[] = [];
  const k8s = plan.kubernetes ? `, Kubernetes ${plan.kubernetes.from} -> ${plan.kubernetes.to}` : '';
  lines.push(
    `Plan for ${inventory.cluster.name} (${describeNodes(inventory)}): Talos ${plan.talos.from} -> ${plan.talos.to}${k8s}`,
  );
  if (plan.steps.length === 0) {
    lines.push('Nothing to do: the cluster is already at the requested versions.');
    return lines.join('\n');
  }
  plan.steps.forEach((step, index) => {
    const n = `${index + 1}.`.padEnd(3);
    if (step.type === 'kubernetes') {
      lines.push(`  ${n} Kubernetes ${step.from} -> ${step.to}   upgrade-k8s (dry run first)`);
      return;
    }
    const approval = step.requiresApproval ? '   needs approval' : '';
    const why = step.strategyReason ? `   (${step.strategyReason})` : '';
    lines.push(
      `  ${n} Talos ${step.from} -> ${step.to}   ${step.change.padEnd(5)}  ${step.strategy.padEnd(6)}${approval}${why}`,
    );
  });
  lines.push(
    plan.requiresApproval
      ? 'Approval: required before the marked hops (signal approve or `talos-upgrade approve`).'
      : 'Approval: not required.',
  );
  for (const unmet of prerequisitesOf(plan, inventory))
    lines.push(
      `Prerequisite (${unmet.id}, the run stops in pre-flight until acknowledged): ${unmet.message}`,
    );
  return lines.join('\n');
}

/** Talos's or Kubernetes's releases from GitHub's API (TALOS_UPGRADE_RELEASES_API_URL, a token optional), or a UserError saying what to give. */
async function releasesFromGitHub(
  needed: string,
  project: 'talos' | 'kubernetes' = 'talos',
): Promise<ReleaseList> {
  const releases = await (project === 'talos' ? talosReleasesFromEnv : kubernetesReleasesFromEnv)(
    process.env,
  );
  try {
    return ReleaseList.fromTags((await releases.list()).tags);
  } catch (error) {
    if (error instanceof GitHubReleasesError) throw new UserError(`${needed} (${error.message})`);
    throw error;
  }
}

/** `talos-upgrade plan`: what an upgrade between two versions would do on one cluster, without doing it. */
export async function planCommand(options: PlanOptions): Promise<number> {
  const inventory = await loadInventoryFile(options.inventory);
  try {
    const given = options.releases ? await readReleaseFile(options.releases) : releasesOf(inventory);
    const k8sFrom = options.k8sFrom !== undefined ? parseVersion(options.k8sFrom, '--k8s-from') : undefined;
    const k8sTo = options.k8sTo !== undefined ? parseVersion(options.k8sTo, '--k8s-to') : undefined;
    // Kubernetes through a minor it does not stop at lands on that minor's newest patch: read the
    // releases from GitHub, as the worker does, when no list was given.
    const kubernetesReleases = options.k8sReleases
      ? await readReleaseFile(options.k8sReleases)
      : (kubernetesReleasesOf(inventory) ??
        (k8sFrom && k8sTo && kubernetesNeedsReleases(k8sFrom, k8sTo)
          ? await releasesFromGitHub(
              `Kubernetes ${k8sFrom} -> ${k8sTo} passes through a minor to its newest patch; give the list of released versions (--k8s-releases <file>, or versions.kubernetesReleases in the inventory)`,
              'kubernetes',
            )
          : undefined));
    const talosFrom = parseVersion(options.from, '--from');
    const talosTo = parseVersion(options.to, '--to');
    const planWith = (talosReleases: ReleaseList | undefined) =>
      planUpgrade(
        {
          talosFrom,
          talosTo,
          ...(k8sFrom !== undefined ? { kubernetesFrom: k8sFrom } : {}),
          ...(k8sTo !== undefined ? { kubernetesTo: k8sTo } : {}),
          ...(options.strategy ? { strategyOverride: options.strategy } : {}),
          ...(talosReleases ? { talosReleases } : {}),
          ...(kubernetesReleases ? { kubernetesReleases } : {}),
          kubernetesSupport: kubernetesSupportOf(inventory),
        },
        planningPolicyOf(inventory),
      );
    // A jump over minors without a list of Talos's releases: read from GitHub, as the worker reads them.
    const talosNeedsList = (() => {
      if (given) return undefined;
      try {
        splitTalosHops(talosFrom, talosTo);
        return undefined;
      } catch (error) {
        return error instanceof PlanError && error.code === 'release-list-needed' ? error.message : undefined;
      }
    })();
    const plan = planWith(talosNeedsList ? await releasesFromGitHub(talosNeedsList) : given);
    // After planning, so a downgrade is named as one first.
    const unsupported = unsupportedTalos(talosFrom, '--from') ?? unsupportedTalos(talosTo, '--to');
    if (unsupported) throw new UserError(unsupported);
    console.log(
      options.json
        ? JSON.stringify(
            { cluster: inventory.cluster.name, ...plan, prerequisites: prerequisitesOf(plan, inventory) },
            null,
            2,
          )
        : formatPlanText(plan, inventory),
    );
    return 0;
  } catch (error) {
    if (error instanceof PlanError || error instanceof VersionError) throw new UserError(error.message);
    throw error;
  }
}
