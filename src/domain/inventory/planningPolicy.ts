import type { PlanningPolicy } from '../strategy.js';
import type { Inventory } from './schema.js';
import type { KubernetesRange } from '../kubernetesSupport.js';
import { ReleaseList } from '../releases.js';

/** The part of an inventory's policy that decides what a plan looks like. */
export function planningPolicyOf(inventory: Inventory): PlanningPolicy {
  return {
    strategy: inventory.policy.strategy,
    approval: inventory.policy.approval,
    withoutTerraform: inventory.policy.withoutTerraform,
    terraformAvailable: inventory.terraform !== undefined,
    strategyOverride: inventory.policy.strategyOverride,
  };
}

export function kubernetesSupportOf(inventory: Inventory): Record<string, KubernetesRange> {
  return inventory.versions.kubernetesSupport ?? {};
}

export function releasesOf(inventory: Inventory): ReleaseList | undefined {
  return inventory.versions.releases ? new ReleaseList(inventory.versions.releases) : undefined;
}

/** versions.kubernetesReleases, for a worker or a `plan` that is not to ask GitHub. */
export function kubernetesReleasesOf(inventory: Inventory): ReleaseList | undefined {
  const list = inventory.versions.kubernetesReleases;
  return list ? new ReleaseList(list) : undefined;
}
