import { parseReleaseListText, ReleaseList } from '../domain/index.js';
import { cancellationSignal } from './activityContext.js';
import type { ActivityDeps } from './deps.js';
import { nonRetryable, retryable } from './errors.js';
import { GitHubReleasesError } from './githubReleases.js';

export function releaseActivities(deps: ActivityDeps) {
  /** A list of one version per line at a URL (TALOS_UPGRADE_RELEASES_URL): the user's own feed. */
  async function fromListUrl(url: string): Promise<string[]> {
    const signal = cancellationSignal();
    let response: Response;
    try {
      response = await fetch(url, { ...(signal ? { signal } : {}) });
    } catch (error) {
      throw retryable('TalosUnavailable', `fetching the release list: ${(error as Error).message}`);
    }
    if (!response.ok)
      throw retryable('TalosUnavailable', `the release list answered HTTP ${response.status}`);
    return [...parseReleaseListText(await response.text(), 'release list').versions];
  }

  /**
   * The released Talos versions, for planning hops through the latest patch of each minor: from
   * siderolabs/talos's GitHub releases (drafts and prereleases left out; a tag that is no version,
   * if Talos ever made one, is skipped), or from the list TALOS_UPGRADE_RELEASES_URL names.
   */
  async function fetchTalosReleases(): Promise<string[]> {
    if (deps.releasesUrl) return fromListUrl(deps.releasesUrl);
    if (!deps.talosReleases)
      throw nonRetryable(
        'ValidationFailed',
        'this worker reads no release list: put versions.releases in the inventory, or set TALOS_UPGRADE_RELEASES_URL',
      );
    let tags: string[];
    try {
      ({ tags } = await deps.talosReleases.list());
    } catch (error) {
      if (error instanceof GitHubReleasesError) throw retryable('TalosUnavailable', error.message);
      throw error;
    }
    const { versions } = ReleaseList.fromTags(tags);
    if (versions.length === 0)
      throw retryable('TalosUnavailable', 'GitHub listed no release of siderolabs/talos');
    return [...versions];
  }
  return { fetchTalosReleases };
}
