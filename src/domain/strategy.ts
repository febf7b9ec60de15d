import type { ChangeKind } from './version.js';

/** pets: upgrade the node in place (`talosctl upgrade`); cattle: destroy and recreate its VM. */
export type Strategy = 'pets' | 'cattle';
export const STRATEGIES: readonly Strategy[] = ['pets', 'cattle'];

/** What the planner needs to know of a cluster's policy (the inventory's `policy` section). */
export interface PlanningPolicy {
  strategy: Record<ChangeKind, Strategy>;
  approval: Record<ChangeKind, boolean>;
  /** Without Terraform a VM cannot be recreated: run such hops as pets, or refuse them. */
  withoutTerraform: 'pets' | 'refuse';
  terraformAvailable: boolean;
  /**
   * What a requested strategy (a pull request's label, `start --strategy`) may do: `approve` takes it,
   * and a hop it turns from pets into cattle (every VM recreated) waits for approval; `allow` takes it
   * as it is; `ignore` keeps the policy's strategy and says so.
   */
  strategyOverride: 'approve' | 'allow' | 'ignore';
}

export const DEFAULT_PLANNING_POLICY: PlanningPolicy = {
  strategy: { patch: 'pets', minor: 'cattle', major: 'cattle' },
  approval: { patch: false, minor: false, major: true },
  withoutTerraform: 'refuse',
  terraformAvailable: true,
  strategyOverride: 'approve',
};
