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
}

export const DEFAULT_PLANNING_POLICY: PlanningPolicy = {
  strategy: { patch: 'pets', minor: 'cattle', major: 'cattle' },
  approval: { patch: false, minor: false, major: true },
  withoutTerraform: 'refuse',
  terraformAvailable: true,
};
