import semver from 'semver';
import { compareVersions, minorOf, parseVersion, type Version } from './version.js';

/** The released versions of one product (Talos or Kubernetes), newest last, without pre-releases. */
export class ReleaseList {
  readonly versions: readonly Version[];

  constructor(versions: Iterable<string>) {
    const unique = new Set<Version>();
    for (const raw of versions) {
      const version = parseVersion(raw, 'released version');
      // Pre-releases (1.12.0-beta.1) are never upgrade targets chosen on the user's behalf.
      if (!semver.prerelease(version)) unique.add(version);
    }
    this.versions = [...unique].sort(compareVersions);
  }

  /** From release tags (`v1.12.5`); a tag that is no version (none of Talos's is) is left out. */
  static fromTags(tags: Iterable<string>): ReleaseList {
    const versions: string[] = [];
    for (const tag of tags)
      try {
        versions.push(parseVersion(tag, 'release tag'));
      } catch {
        continue;
      }
    return new ReleaseList(versions);
  }

  has(version: Version): boolean {
    return this.versions.includes(version);
  }

  /** The newest patch of a minor ("1.12" -> "1.12.5"), or undefined when none was released. */
  latestPatchOf(minor: string): Version | undefined {
    return this.versions.filter((v) => minorOf(v) === minor).at(-1);
  }

  /** Every minor that has a release strictly between two versions' minors, oldest first. */
  minorsBetween(from: Version, to: Version): string[] {
    const fromMinor = minorOf(from);
    const toMinor = minorOf(to);
    const minors: string[] = [];
    for (const version of this.versions) {
      const minor = minorOf(version);
      if (minors.includes(minor) || minor === fromMinor || minor === toMinor) continue;
      if (compareVersions(version, from) > 0 && compareVersions(version, to) < 0) minors.push(minor);
    }
    return minors;
  }
}

/**
 * Reads a release list file: one version per line; blank lines and `#` comments are ignored.
 * Errors name the line so a typo in a hand-written list is easy to find.
 */
export function parseReleaseListText(text: string, source = 'release list'): ReleaseList {
  const versions: string[] = [];
  text.split(/\r?\n/).forEach((line, index) => {
    const content = line.replace(/#.*/, '').trim();
    if (!content) return;
    try {
      versions.push(parseVersion(content));
    } catch (error) {
      throw new Error(`${source}:${index + 1}: ${(error as Error).message}`, { cause: error });
    }
  });
  return new ReleaseList(versions);
}
