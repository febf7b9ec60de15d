import { kubernetesSupportTable, type KubernetesRange } from './kubernetesSupport.js';
import { interleaveKubernetes, type KubernetesStep, type PlannedStep } from './kubernetesSteps.js';
import { PlanError } from './planError.js';
import type { ReleaseList } from './releases.js';
import type { PlanningPolicy, Strategy } from './strategy.js';
import { splitTalosHops, type VersionHop } from './talosHops.js';
import type { ChangeKind, Version } from './version.js';

export interface UpgradePlanRequest {
  talosFrom: Version;
  talosTo: Version;
  kubernetesFrom?: Version;
  kubernetesTo?: Version;
  /** An explicit strategy (the `upgrade-pets` / `upgrade-cattle` PR labels) wins over the policy. */
  strategyOverride?: Strategy;
  talosReleases?: ReleaseList;
  kubernetesReleases?: ReleaseList;
  kubernetesSupport?: Readonly<Record<string, KubernetesRange>>;
}

export interface TalosHop extends VersionHop {
  strategy: Strategy;
  requiresApproval: boolean;
  /** Why the strategy differs from what the change kind alone would give, if it does. */
  strategyReason?: string;
}

export type PlanStep = ({ type: 'talos' } & TalosHop) | ({ type: 'kubernetes' } & KubernetesStep);

export interface UpgradePlan {
  talos: { from: Version; to: Version };
  kubernetes?: { from: Version; to: Version };
  /** Talos hops only, in order. */
  hops: TalosHop[];
  kubernetesSteps: KubernetesStep[];
  /** Talos hops and Kubernetes steps interleaved in the order they run. */
  steps: PlanStep[];
  requiresApproval: boolean;
}

function chooseStrategy(
  change: ChangeKind,
  hop: VersionHop,
  policy: PlanningPolicy,
  override?: Strategy,
): Pick<TalosHop, 'strategy' | 'strategyReason'> {
  const wanted = override ?? policy.strategy[change];
  if (wanted === 'pets' || policy.terraformAvailable) {
    return override
      ? { strategy: wanted, strategyReason: `explicitly requested ${override}` }
      : { strategy: wanted };
  }
  const why = override ? 'cattle was requested explicitly' : `the policy runs ${change} upgrades as cattle`;
  if (policy.withoutTerraform === 'pets' && !override) {
    return {
      strategy: 'pets',
      strategyReason: `${why}, but the cluster has no Terraform: upgrading in place`,
    };
  }
  throw new PlanError(
    'cattle-unavailable',
    `Talos ${hop.from} -> ${hop.to}: ${why} (recreate the VMs with Terraform), but this cluster has no ` +
      `terraform section in its inventory. Run it as pets (label upgrade-pets, or policy.withoutTerraform: pets), ` +
      `or describe the cluster's Terraform in the inventory.`,
  );
}

/** Turns "from these versions to those" into the ordered, policy-annotated steps of an upgrade. */
export function planUpgrade(request: UpgradePlanRequest, policy: PlanningPolicy): UpgradePlan {
  const { talosFrom, talosTo, kubernetesFrom, kubernetesTo } = request;
  if ((kubernetesFrom === undefined) !== (kubernetesTo === undefined)) {
    throw new PlanError(
      'invalid-request',
      'Give both the running and the target Kubernetes version (--k8s-from and --k8s-to), or neither.',
    );
  }
  const override = policy.strategyOverride === 'ignore' ? undefined : request.strategyOverride;
  const hops: TalosHop[] = splitTalosHops(talosFrom, talosTo, request.talosReleases).map((hop) => {
    const chosen = chooseStrategy(hop.change, hop, policy, override);
    // A label must never widen what a merge does unseen: a hop turned into cattle by a request (every
    // VM recreated where the policy upgrades in place) waits for a person unless the policy allows it.
    const widened =
      policy.strategyOverride === 'approve' &&
      chosen.strategy === 'cattle' &&
      policy.strategy[hop.change] === 'pets';
    const ignored =
      request.strategyOverride && !override && request.strategyOverride !== chosen.strategy
        ? `requested ${request.strategyOverride}, ignored (policy.strategyOverride: ignore)`
        : undefined;
    return {
      ...hop,
      ...chosen,
      ...(ignored ? { strategyReason: ignored } : {}),
      ...(widened
        ? {
            strategyReason: `${chosen.strategyReason ?? 'requested cattle'}: waits for approval, as policy.strategyOverride says`,
          }
        : {}),
      requiresApproval: policy.approval[hop.change] || widened,
    };
  });

  let steps: PlanStep[] = hops.map((hop) => ({ type: 'talos', ...hop }));
  if (kubernetesFrom !== undefined && kubernetesTo !== undefined) {
    const ordered: PlannedStep[] = interleaveKubernetes({
      talosHops: hops,
      talosFrom,
      kubernetesFrom,
      kubernetesTo,
      support: kubernetesSupportTable(request.kubernetesSupport),
      ...(request.kubernetesReleases ? { releases: request.kubernetesReleases } : {}),
    });
    let hopIndex = 0;
    steps = ordered.map((step) => {
      if (step.type === 'kubernetes') return step;
      const hop = hops[hopIndex++];
      if (!hop) throw new Error('internal: Kubernetes interleaving produced an unknown Talos hop');
      return { type: 'talos', ...hop };
    });
  }

  return {
    talos: { from: talosFrom, to: talosTo },
    ...(kubernetesFrom !== undefined && kubernetesTo !== undefined
      ? { kubernetes: { from: kubernetesFrom, to: kubernetesTo } }
      : {}),
    hops,
    kubernetesSteps: steps.flatMap((step) =>
      step.type === 'kubernetes' ? [{ from: step.from, to: step.to }] : [],
    ),
    steps,
    requiresApproval: hops.some((hop) => hop.requiresApproval),
  };
}

export function isNothingToDo(plan: UpgradePlan): boolean {
  return plan.steps.length === 0;
}
