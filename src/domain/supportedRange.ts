import { compareMinors, compareVersions, minorOf, type Version } from './version.js';

/**
 * The Talos releases this talos-upgrade drives and its tests prove: the talosctl it ships (v1.14.1)
 * drives them, and the lab's Talos API plays 1.11 to 1.14 (1.14 not yet proven by whole runs). A node
 * or a target outside is refused at planning, before anything moves: a release never proven fails part
 * way through a run.
 */
export const SUPPORTED_TALOS = { min: '1.11.0', maxMinor: '1.13' } as const;

/** Why `version` (of `what`) is outside the supported range, or undefined when it is inside. */
export function unsupportedTalos(version: Version, what: string): string | undefined {
  const tooOld = compareVersions(version, SUPPORTED_TALOS.min) < 0;
  const tooNew = compareMinors(minorOf(version), SUPPORTED_TALOS.maxMinor) > 0;
  if (!tooOld && !tooNew) return undefined;
  return `${what} Talos ${version} is outside what this talos-upgrade drives (Talos ${SUPPORTED_TALOS.min} to ${SUPPORTED_TALOS.maxMinor}.x, with the talosctl it ships): ${
    tooNew
      ? `move to a talos-upgrade release that supports Talos ${minorOf(version)} before upgrading to it`
      : `upgrade the cluster to ${SUPPORTED_TALOS.min} or newer by hand (talosctl upgrade) first`
  }. Nothing was touched`;
}
