import { compareVersions } from './version.js';

/**
 * Whether `talosctl upgrade` (v1.14.1, the client the product ships, as 1.13.8) takes the lifecycle API for a
 * node at this version: install without a reboot, then a reboot when asked. Its own range is
 * >1.13.0-alpha.2 <2.0.0; outside it the legacy upgrade pulls, installs and reboots in one go.
 */
export function usesLifecycleApi(version: string): boolean {
  return compareVersions(version, '1.13.0') >= 0 && compareVersions(version, '2.0.0') < 0;
}
