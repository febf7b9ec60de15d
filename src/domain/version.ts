import semver from 'semver';

/** A released version, always held without the leading `v` ("1.11.3"). */
export type Version = string;

export type ChangeKind = 'patch' | 'minor' | 'major';

/** An input the user typed that is not a version; the message says what was expected. */
export class VersionError extends Error {
  override name = 'VersionError';
}

/** Accepts "1.11.3" or "v1.11.3" (as Talos tags and variables.tf write them) and returns "1.11.3". */
export function parseVersion(input: string, what = 'version'): Version {
  const trimmed = input.trim();
  const parsed = semver.valid(trimmed.replace(/^v/i, ''));
  if (!parsed) {
    throw new VersionError(
      `${what} "${input}" is not a version: expected MAJOR.MINOR.PATCH such as 1.11.3 or v1.11.3`,
    );
  }
  return parsed;
}

export function compareVersions(a: Version, b: Version): number {
  return semver.compare(a, b);
}

/** "1.11" for "1.11.3": the unit Talos and Kubernetes support ranges are written in. */
export function minorOf(version: Version): string {
  return `${semver.major(version)}.${semver.minor(version)}`;
}

export function withV(version: Version): string {
  return `v${version}`;
}

/** How big a step from `from` to `to` is; both must be parsed and `to` must be newer. */
export function changeKind(from: Version, to: Version): ChangeKind {
  if (semver.major(from) !== semver.major(to)) return 'major';
  if (semver.minor(from) !== semver.minor(to)) return 'minor';
  return 'patch';
}

/** Parses "1.11" (or "v1.11") into [major, minor]. */
export function parseMinor(input: string, what = 'minor version'): [number, number] {
  const match = /^v?(\d+)\.(\d+)$/.exec(input.trim());
  if (!match)
    throw new VersionError(`${what} "${input}" is not a minor version: expected MAJOR.MINOR such as 1.33`);
  return [Number(match[1]), Number(match[2])];
}

export function compareMinors(a: string, b: string): number {
  const [aMajor, aMinor] = parseMinor(a);
  const [bMajor, bMinor] = parseMinor(b);
  return aMajor - bMajor || aMinor - bMinor;
}
