import semver from 'semver';
import { PlanError } from './planError.js';
import type { ReleaseList } from './releases.js';
import { changeKind, compareVersions, type ChangeKind, type Version } from './version.js';

export interface VersionHop {
  from: Version;
  to: Version;
  change: ChangeKind;
}

/** Same-major minors strictly between two versions, e.g. 1.11.3 -> 1.14.0 gives 1.12 and 1.13. */
function minorsInBetweenSameMajor(from: Version, to: Version): string[] {
  const major = semver.major(from);
  const minors: string[] = [];
  for (let minor = semver.minor(from) + 1; minor < semver.minor(to); minor++)
    minors.push(`${major}.${minor}`);
  return minors;
}

/**
 * Talos must pass through every minor release: a jump over minors becomes one hop per minor,
 * landing on the newest patch of each intermediate minor (1.11.3 -> 1.12.5 -> 1.13.0).
 */
export function splitTalosHops(from: Version, to: Version, releases?: ReleaseList): VersionHop[] {
  const order = compareVersions(from, to);
  if (order === 0) return [];
  if (order > 0) {
    throw new PlanError(
      'downgrade',
      `Talos ${to} is older than the running ${from}: downgrades are not supported. ` +
        `Revert the version change, or restore the nodes from a backup by hand.`,
    );
  }
  if (releases && releases.versions.length > 0 && !releases.has(to)) {
    throw new PlanError(
      'unknown-release',
      `Talos ${to} is not in the release list (newest known: ${releases.versions.at(-1)}). ` +
        `Check the version, or refresh the release list.`,
    );
  }
  if (changeKind(from, to) === 'patch') return [{ from, to, change: 'patch' }];

  const sameMajor = semver.major(from) === semver.major(to);
  if (!releases || releases.versions.length === 0) {
    const through = sameMajor ? minorsInBetweenSameMajor(from, to) : [];
    if (sameMajor && through.length === 0) return [{ from, to, change: changeKind(from, to) }];
    throw new PlanError(
      'release-list-needed',
      `Talos ${from} -> ${to} must pass through every minor release` +
        (through.length ? ` (${through.map((m) => `${m}.x`).join(', ')})` : '') +
        `; give the list of released versions (--releases <file>, or versions.releases in the inventory) ` +
        `so the newest patch of each can be chosen.`,
    );
  }

  const through = sameMajor ? minorsInBetweenSameMajor(from, to) : releases.minorsBetween(from, to);
  const waypoints: Version[] = through.map((minor) => {
    const latest = releases.latestPatchOf(minor);
    if (!latest) {
      throw new PlanError(
        'release-list-needed',
        `Talos ${from} -> ${to} must pass through ${minor}.x, but the release list has no ${minor} release.`,
      );
    }
    return latest;
  });

  const hops: VersionHop[] = [];
  let current = from;
  for (const next of [...waypoints, to]) {
    hops.push({ from: current, to: next, change: changeKind(current, next) });
    current = next;
  }
  // Across a major the minors come from the list alone, so a list with a gap must not yield a skip.
  for (const hop of hops) {
    if (hop.change === 'minor' && semver.minor(hop.to) - semver.minor(hop.from) > 1) {
      throw new PlanError(
        'release-list-needed',
        `Talos ${hop.from} -> ${hop.to} would skip ${minorsInBetweenSameMajor(hop.from, hop.to).join(', ')}: ` +
          `the release list has no release of them, and Talos must pass through every minor.`,
      );
    }
  }
  return hops;
}
