import { parseReleaseListText, ReleaseList } from '../domain/index.js';
import { cancellationSignal } from './activityContext.js';
import type { ActivityDeps } from './deps.js';
import { nonRetryable, retryable } from './errors.js';
import { GitHubReleasesError, type GitHubReleases } from './githubReleases.js';

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
   * A project's released versions from its GitHub releases (drafts and prereleases left out; a tag
   * that is no version is skipped). `fix` says what to give a worker that reads none.
   */
  async function fromGitHub(
    releases: GitHubReleases | undefined,
    repository: string,
    fix: string,
  ): Promise<string[]> {
    if (!releases)
      throw nonRetryable('ValidationFailed', `this worker reads no release list of ${repository}: ${fix}`);
    let tags: string[];
    try {
      ({ tags } = await releases.list());
    } catch (error) {
      if (error instanceof GitHubReleasesError) throw retryable('TalosUnavailable', error.message);
      throw error;
    }
    const { versions } = ReleaseList.fromTags(tags);
    if (versions.length === 0)
      throw retryable('TalosUnavailable', `GitHub listed no release of ${repository}`);
    return [...versions];
  }

  /**
   * The released Talos versions, for planning hops through the latest patch of each minor: from
   * siderolabs/talos's GitHub releases, or from the list TALOS_UPGRADE_RELEASES_URL names.
   */
  async function fetchTalosReleases(): Promise<string[]> {
    if (deps.releasesUrl) return fromListUrl(deps.releasesUrl);
    return fromGitHub(
      deps.talosReleases,
      'siderolabs/talos',
      'put versions.releases in the inventory, or set TALOS_UPGRADE_RELEASES_URL',
    );
  }

  /**
   * The released Kubernetes versions, for a Kubernetes step through a minor the run does not stop at
   * (1.34 -> 1.36 passes 1.35's newest patch): kubernetes/kubernetes's GitHub releases (its alphas,
   * betas and release candidates are prereleases).
   */
  async function fetchKubernetesReleases(): Promise<string[]> {
    return fromGitHub(
      deps.kubernetesReleases,
      'kubernetes/kubernetes',
      'put versions.kubernetesReleases in the inventory',
    );
  }

  return { fetchTalosReleases, fetchKubernetesReleases };
}
