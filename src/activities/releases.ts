import { parseReleaseListText } from '../domain/index.js';
import { cancellationSignal } from './activityContext.js';
import type { ActivityDeps } from './deps.js';
import { nonRetryable, retryable } from './errors.js';

export function releaseActivities(deps: ActivityDeps) {
  /** The released Talos versions, for planning hops through the latest patch of each minor. */
  async function fetchTalosReleases(): Promise<string[]> {
    if (!deps.releasesUrl)
      throw nonRetryable(
        'ValidationFailed',
        'no release list is configured (TALOS_UPGRADE_RELEASES_URL); put versions.releases in the inventory instead',
      );
    const signal = cancellationSignal();
    let response: Response;
    try {
      response = await fetch(deps.releasesUrl, { ...(signal ? { signal } : {}) });
    } catch (error) {
      throw retryable('TalosUnavailable', `fetching the release list: ${(error as Error).message}`);
    }
    if (!response.ok)
      throw retryable('TalosUnavailable', `the release list answered HTTP ${response.status}`);
    return [...parseReleaseListText(await response.text(), 'release list').versions];
  }
  return { fetchTalosReleases };
}
