import semver from 'semver';
import { describeRange, supportedRange, type KubernetesRange } from './kubernetesSupport.js';
import { PlanError } from './planError.js';
import type { ReleaseList } from './releases.js';
import { compareMinors, compareVersions, minorOf, type Version } from './version.js';
import type { VersionHop } from './talosHops.js';

export interface KubernetesStep {
  from: Version;
  to: Version;
}

/** One step of the whole plan, in the order it runs. */
export type PlannedStep = ({ type: 'talos' } & VersionHop) | ({ type: 'kubernetes' } & KubernetesStep);

interface KubernetesPlanInput {
  talosHops: VersionHop[];
  talosFrom: Version;
  kubernetesFrom: Version;
  kubernetesTo: Version;
  support: Readonly<Record<string, KubernetesRange>>;
  releases?: ReleaseList;
}

function nextMinor(version: Version): string {
  return `${semver.major(version)}.${semver.minor(version) + 1}`;
}

/**
 * Whether Kubernetes from -> to passes through a minor it does not stop at (1.34 -> 1.36 passes 1.35):
 * that step lands on the minor's newest patch, which only a release list knows.
 */
export function kubernetesNeedsReleases(from: string, to: string): boolean {
  // Not a version: the planner names it, with the rules it breaks.
  if (!semver.valid(from) || !semver.valid(to)) return false;
  return semver.major(to) === semver.major(from) && semver.minor(to) - semver.minor(from) >= 2;
}

function rangeFor(support: Readonly<Record<string, KubernetesRange>>, talos: Version): KubernetesRange {
  const range = supportedRange(support, talos);
  if (!range) {
    throw new PlanError(
      'kubernetes-range-unknown',
      `The Kubernetes versions supported by Talos ${minorOf(talos)} are not known; ` +
        `add them to the inventory as versions.kubernetesSupport["${minorOf(talos)}"]: {min, max}.`,
    );
  }
  return range;
}

/**
 * Kubernetes moves one minor per step, and each step must be supported by the Talos version
 * running at that moment. The version for a minor is the target itself, or the newest patch
 * of that minor from the Kubernetes release list.
 */
function stepOneMinor(
  current: Version,
  target: Version,
  talos: Version,
  input: KubernetesPlanInput,
): KubernetesStep {
  const minor = minorOf(current) === minorOf(target) ? minorOf(target) : nextMinor(current);
  const range = rangeFor(input.support, talos);
  if (compareMinors(minor, range.max) > 0) {
    throw new PlanError(
      'kubernetes-unsupported',
      `Kubernetes ${minor} is not supported by Talos ${minorOf(talos)} (supports ${describeRange(range)}); ` +
        `upgrade Talos first or choose a Kubernetes version inside that range.`,
    );
  }
  if (minor === minorOf(target)) return { from: current, to: target };
  const latest = input.releases?.latestPatchOf(minor);
  if (!latest) {
    throw new PlanError(
      'release-list-needed',
      `Kubernetes ${current} -> ${target} must pass through ${minor}.x one minor at a time; ` +
        `its newest patch comes from a Kubernetes release list (kubernetes/kubernetes's GitHub releases, ` +
        `versions.kubernetesReleases in the inventory, or plan's --k8s-releases <file>).`,
    );
  }
  return { from: current, to: latest };
}

/** Interleaves Kubernetes steps with the Talos hops so every moment stays inside the support matrix. */
export function interleaveKubernetes(input: KubernetesPlanInput): PlannedStep[] {
  const { kubernetesFrom, kubernetesTo } = input;
  if (compareVersions(kubernetesTo, kubernetesFrom) < 0) {
    throw new PlanError(
      'downgrade',
      `Kubernetes ${kubernetesTo} is older than the running ${kubernetesFrom}: downgrades are not supported.`,
    );
  }
  const steps: PlannedStep[] = [];
  let kubernetes = kubernetesFrom;
  let talos = input.talosFrom;
  const moveKubernetesUntil = (done: () => boolean) => {
    while (!done()) {
      const step = stepOneMinor(kubernetes, kubernetesTo, talos, input);
      steps.push({ type: 'kubernetes', ...step });
      kubernetes = step.to;
    }
  };

  for (const hop of input.talosHops) {
    const range = rangeFor(input.support, hop.to);
    // The next Talos may no longer run the current Kubernetes: raise it first, under today's Talos.
    if (compareMinors(minorOf(kubernetes), range.min) < 0) {
      if (compareMinors(minorOf(kubernetesTo), range.min) < 0) {
        throw new PlanError(
          'kubernetes-unsupported',
          `Talos ${hop.to} needs Kubernetes ${range.min} or newer (supports ${describeRange(range)}), ` +
            `but the target Kubernetes is ${kubernetesTo}; raise kubernetes_version as well.`,
        );
      }
      moveKubernetesUntil(() => compareMinors(minorOf(kubernetes), range.min) >= 0);
    }
    if (compareMinors(minorOf(kubernetes), range.max) > 0) {
      throw new PlanError(
        'kubernetes-unsupported',
        `Talos ${hop.to} does not support Kubernetes ${kubernetes} (supports ${describeRange(range)}).`,
      );
    }
    steps.push({ type: 'talos', ...hop });
    talos = hop.to;
  }
  moveKubernetesUntil(() => compareVersions(kubernetes, kubernetesTo) >= 0);
  return steps;
}
