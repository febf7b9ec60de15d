import { describe, expect, it } from '@jest/globals';
import {
  DEFAULT_PLANNING_POLICY,
  kubernetesNeedsReleases,
  PlanError,
  ReleaseList,
  planUpgrade,
  type PlanningPolicy,
  type UpgradePlanRequest,
} from '../../src/domain/index.js';

const talosReleases = new ReleaseList([
  '1.10.8',
  '1.10.9',
  '1.11.0',
  '1.11.3',
  '1.11.5',
  '1.12.0',
  '1.12.5',
  '1.13.0',
  '1.13.2',
  '1.14.1',
  '1.15.0',
  '1.15.3',
  '2.0.0',
  '1.13.0-beta.1',
]);
const kubernetesReleases = new ReleaseList([
  '1.30.4',
  '1.31.0',
  '1.31.9',
  '1.32.3',
  '1.33.1',
  '1.34.2',
  '1.35.0',
]);
const noTerraformPets: PlanningPolicy = {
  ...DEFAULT_PLANNING_POLICY,
  terraformAvailable: false,
  withoutTerraform: 'pets',
};
const noTerraformRefuse: PlanningPolicy = { ...DEFAULT_PLANNING_POLICY, terraformAvailable: false };

type Hop = [from: string, to: string, strategy: 'pets' | 'cattle', approval: boolean];

describe('planUpgrade: Talos hops, strategies and approvals', () => {
  const cases: Array<
    [string, Partial<UpgradePlanRequest> & { talosFrom: string; talosTo: string }, PlanningPolicy, Hop[]]
  > = [
    [
      'a patch runs as pets',
      { talosFrom: '1.10.8', talosTo: '1.10.9' },
      DEFAULT_PLANNING_POLICY,
      [['1.10.8', '1.10.9', 'pets', false]],
    ],
    [
      'a leading v is accepted upstream (parsed versions)',
      { talosFrom: '1.11.3', talosTo: '1.11.5', talosReleases },
      DEFAULT_PLANNING_POLICY,
      [['1.11.3', '1.11.5', 'pets', false]],
    ],
    [
      'a minor runs as cattle',
      { talosFrom: '1.10.8', talosTo: '1.11.0' },
      DEFAULT_PLANNING_POLICY,
      [['1.10.8', '1.11.0', 'cattle', false]],
    ],
    [
      'a jump over one minor passes through its latest patch',
      { talosFrom: '1.11.3', talosTo: '1.13.0', talosReleases },
      DEFAULT_PLANNING_POLICY,
      [
        ['1.11.3', '1.12.5', 'cattle', false],
        ['1.12.5', '1.13.0', 'cattle', false],
      ],
    ],
    [
      'a major goes through every minor and needs approval on the major hop',
      { talosFrom: '1.13.2', talosTo: '2.0.0', talosReleases },
      DEFAULT_PLANNING_POLICY,
      [
        ['1.13.2', '1.14.1', 'cattle', false],
        ['1.14.1', '1.15.3', 'cattle', false],
        ['1.15.3', '2.0.0', 'cattle', true],
      ],
    ],
    [
      'without Terraform, policy pets upgrades minors in place',
      { talosFrom: '1.12.0', talosTo: '1.13.0' },
      noTerraformPets,
      [['1.12.0', '1.13.0', 'pets', false]],
    ],
    [
      'an explicit pets label wins over the policy',
      { talosFrom: '1.10.8', talosTo: '1.11.0', strategyOverride: 'pets' },
      DEFAULT_PLANNING_POLICY,
      [['1.10.8', '1.11.0', 'pets', false]],
    ],
    [
      'an explicit cattle label recreates a patch, and waits for approval (policy.strategyOverride: approve)',
      { talosFrom: '1.10.8', talosTo: '1.10.9', strategyOverride: 'cattle' },
      DEFAULT_PLANNING_POLICY,
      [['1.10.8', '1.10.9', 'cattle', true]],
    ],
    [
      'a cattle label on a patch, where the policy allows overrides: no approval',
      { talosFrom: '1.10.8', talosTo: '1.10.9', strategyOverride: 'cattle' },
      { ...DEFAULT_PLANNING_POLICY, strategyOverride: 'allow' },
      [['1.10.8', '1.10.9', 'cattle', false]],
    ],
    [
      'a cattle label where the policy ignores overrides: pets, as the policy says',
      { talosFrom: '1.10.8', talosTo: '1.10.9', strategyOverride: 'cattle' },
      { ...DEFAULT_PLANNING_POLICY, strategyOverride: 'ignore' },
      [['1.10.8', '1.10.9', 'pets', false]],
    ],
    [
      'the same version is nothing to do',
      { talosFrom: '1.11.3', talosTo: '1.11.3' },
      DEFAULT_PLANNING_POLICY,
      [],
    ],
  ];

  it.each(cases)('%s', (_name, request, policy, expected) => {
    const plan = planUpgrade(request, policy);
    expect(plan.hops.map((hop) => [hop.from, hop.to, hop.strategy, hop.requiresApproval])).toEqual(expected);
    expect(plan.requiresApproval).toBe(expected.some(([, , , approval]) => approval));
  });

  it('1.10.8 -> 2.0.0 is all cattle, never skips a minor, and needs approval', () => {
    const plan = planUpgrade(
      { talosFrom: '1.10.8', talosTo: '2.0.0', talosReleases },
      DEFAULT_PLANNING_POLICY,
    );
    expect(plan.hops.map((hop) => hop.to)).toEqual([
      '1.11.5',
      '1.12.5',
      '1.13.2',
      '1.14.1',
      '1.15.3',
      '2.0.0',
    ]);
    expect(plan.hops.every((hop) => hop.strategy === 'cattle')).toBe(true);
    expect(plan.requiresApproval).toBe(true);
    expect(plan.hops.filter((hop) => hop.requiresApproval).map((hop) => hop.change)).toEqual(['major']);
  });

  it('never plans 1.11.x -> 1.13.x in one step, whatever the inputs', () => {
    for (const from of ['1.11.0', '1.11.3', '1.11.5']) {
      for (const to of ['1.13.0', '1.13.2']) {
        const plan = planUpgrade({ talosFrom: from, talosTo: to, talosReleases }, DEFAULT_PLANNING_POLICY);
        for (const hop of plan.hops) expect(`${hop.from}->${hop.to}`).not.toMatch(/^1\.11\.\d+->1\.13\./);
      }
    }
  });
});

describe('planUpgrade: refusals say what is wrong and what to do', () => {
  const refusals: Array<[string, UpgradePlanRequest, PlanningPolicy, string, RegExp]> = [
    [
      'a downgrade',
      { talosFrom: '1.11.3', talosTo: '1.10.8' },
      DEFAULT_PLANNING_POLICY,
      'downgrade',
      /older than the running 1\.11\.3: downgrades are not supported/,
    ],
    [
      'a jump over a minor without a release list',
      { talosFrom: '1.11.3', talosTo: '1.13.0' },
      DEFAULT_PLANNING_POLICY,
      'release-list-needed',
      /through every minor release \(1\.12\.x\).*--releases/,
    ],
    [
      'a major without a release list',
      { talosFrom: '1.15.3', talosTo: '2.0.0' },
      DEFAULT_PLANNING_POLICY,
      'release-list-needed',
      /--releases/,
    ],
    [
      'a target that was never released',
      { talosFrom: '1.11.3', talosTo: '1.12.9', talosReleases },
      DEFAULT_PLANNING_POLICY,
      'unknown-release',
      /1\.12\.9 is not in the release list/,
    ],
    [
      'a minor with no release in the list',
      { talosFrom: '1.11.3', talosTo: '1.13.0', talosReleases: new ReleaseList(['1.11.3', '1.13.0']) },
      DEFAULT_PLANNING_POLICY,
      'release-list-needed',
      /no 1\.12 release/,
    ],
    [
      'cattle without Terraform when the policy refuses',
      { talosFrom: '1.12.0', talosTo: '1.13.0' },
      noTerraformRefuse,
      'cattle-unavailable',
      /no terraform section.*upgrade-pets/,
    ],
    [
      'an explicit cattle label without Terraform',
      { talosFrom: '1.12.0', talosTo: '1.12.1', strategyOverride: 'cattle' },
      noTerraformPets,
      'cattle-unavailable',
      /cattle was requested explicitly/,
    ],
    [
      'a Kubernetes target outside the target Talos range',
      {
        talosFrom: '1.11.3',
        talosTo: '1.12.0',
        kubernetesFrom: '1.34.2',
        kubernetesTo: '1.36.0',
        kubernetesReleases,
      },
      DEFAULT_PLANNING_POLICY,
      'kubernetes-unsupported',
      /Kubernetes 1\.36 is not supported by Talos 1\.12 \(supports 1\.30–1\.35\)/,
    ],
    [
      'a Kubernetes downgrade',
      { talosFrom: '1.11.3', talosTo: '1.11.3', kubernetesFrom: '1.33.1', kubernetesTo: '1.32.3' },
      DEFAULT_PLANNING_POLICY,
      'downgrade',
      /Kubernetes 1\.32\.3 is older/,
    ],
    [
      'only one of the Kubernetes versions',
      { talosFrom: '1.11.3', talosTo: '1.11.5', kubernetesTo: '1.33.1' },
      DEFAULT_PLANNING_POLICY,
      'invalid-request',
      /--k8s-from and --k8s-to/,
    ],
    [
      'a Talos minor whose Kubernetes range is unknown',
      {
        talosFrom: '1.15.3',
        talosTo: '2.0.0',
        talosReleases,
        kubernetesFrom: '1.35.0',
        kubernetesTo: '1.35.0',
      },
      DEFAULT_PLANNING_POLICY,
      'kubernetes-range-unknown',
      /versions\.kubernetesSupport\["2\.0"\]/,
    ],
  ];

  it.each(refusals)('refuses %s', (_name, request, policy, code, message) => {
    let caught: unknown;
    try {
      planUpgrade(request, policy);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(PlanError);
    expect((caught as PlanError).code).toBe(code);
    expect((caught as PlanError).message).toMatch(message);
  });
});

describe('planUpgrade: Kubernetes one minor per step, inside the supported range', () => {
  const steps = (request: UpgradePlanRequest) =>
    planUpgrade(request, DEFAULT_PLANNING_POLICY).steps.map(
      (step) => `${step.type === 'talos' ? 'talos' : 'k8s'} ${step.from}->${step.to}`,
    );

  it('upgrades Kubernetes after Talos when the new version needs the new Talos', () => {
    expect(
      steps({
        talosFrom: '1.11.3',
        talosTo: '1.12.0',
        kubernetesFrom: '1.34.2',
        kubernetesTo: '1.35.0',
        kubernetesReleases,
      }),
    ).toEqual(['talos 1.11.3->1.12.0', 'k8s 1.34.2->1.35.0']);
  });

  it('raises Kubernetes before a Talos hop that no longer supports the running version', () => {
    expect(
      steps({
        talosFrom: '1.11.3',
        talosTo: '1.13.0',
        talosReleases,
        kubernetesFrom: '1.29.1',
        kubernetesTo: '1.32.3',
        kubernetesReleases,
      }),
    ).toEqual([
      'k8s 1.29.1->1.30.4',
      'talos 1.11.3->1.12.5',
      'k8s 1.30.4->1.31.9',
      'talos 1.12.5->1.13.0',
      'k8s 1.31.9->1.32.3',
    ]);
  });

  it('moves Kubernetes alone one minor at a time through the newest patches', () => {
    expect(
      steps({
        talosFrom: '1.12.5',
        talosTo: '1.12.5',
        kubernetesFrom: '1.32.3',
        kubernetesTo: '1.35.0',
        kubernetesReleases,
      }),
    ).toEqual(['k8s 1.32.3->1.33.1', 'k8s 1.33.1->1.34.2', 'k8s 1.34.2->1.35.0']);
  });

  it('needs a release list only when Kubernetes passes through a minor it does not stop at', () => {
    expect(kubernetesNeedsReleases('1.34.1', '1.35.4')).toBe(false);
    expect(kubernetesNeedsReleases('1.34.1', '1.34.4')).toBe(false);
    expect(kubernetesNeedsReleases('1.34.1', '1.36.0')).toBe(true);
    expect(kubernetesNeedsReleases('1.35.0', '1.37.2')).toBe(true);
    // Not versions: the planner refuses them with its own words.
    expect(kubernetesNeedsReleases('latest', '1.37.2')).toBe(false);
    expect(() =>
      planUpgrade(
        { talosFrom: '1.13.0', talosTo: '1.13.0', kubernetesFrom: '1.34.1', kubernetesTo: '1.36.0' },
        DEFAULT_PLANNING_POLICY,
      ),
    ).toThrow(/1\.35\.x one minor at a time.*kubernetes\/kubernetes's GitHub releases/);
  });

  it('uses the inventory range for a Talos minor the built-in table does not know', () => {
    const plan = planUpgrade(
      {
        talosFrom: '1.15.3',
        talosTo: '2.0.0',
        talosReleases,
        kubernetesFrom: '1.35.0',
        kubernetesTo: '1.35.0',
        kubernetesSupport: { '2.0': { min: '1.34', max: '1.39' } },
      },
      DEFAULT_PLANNING_POLICY,
    );
    expect(plan.kubernetesSteps).toEqual([]);
    expect(plan.hops).toHaveLength(1);
  });
});
