import { githubReleases, type GitHubReleases } from '../activities/githubReleases.js';
import { secretFromEnv } from './envSecret.js';

/**
 * A public project's releases from github.com's API (TALOS_UPGRADE_RELEASES_API_URL for a mirror of that
 * API). Not GITHUB_API_URL: that one may name a GitHub Enterprise server, where siderolabs/talos and
 * kubernetes/kubernetes are not. The token is optional: GITHUB_TOKEN is sent only when it is github.com's
 * (no GITHUB_API_URL), TALOS_UPGRADE_RELEASES_TOKEN otherwise.
 */
async function releasesFromEnv(env: NodeJS.ProcessEnv, repository: string): Promise<GitHubReleases> {
  const token =
    (await secretFromEnv(env, 'TALOS_UPGRADE_RELEASES_TOKEN')) ??
    (env.GITHUB_API_URL ? undefined : await secretFromEnv(env, 'GITHUB_TOKEN'));
  return githubReleases({
    apiUrl: env.TALOS_UPGRADE_RELEASES_API_URL ?? 'https://api.github.com',
    repository,
    ...(token ? { token } : {}),
  });
}

/** Talos's releases: a jump over Talos minors lands on each minor's newest patch. */
export function talosReleasesFromEnv(env: NodeJS.ProcessEnv): Promise<GitHubReleases> {
  return releasesFromEnv(env, 'siderolabs/talos');
}

/** Kubernetes's releases: a Kubernetes step through a minor it does not stop at takes that minor's newest patch. */
export function kubernetesReleasesFromEnv(env: NodeJS.ProcessEnv): Promise<GitHubReleases> {
  return releasesFromEnv(env, 'kubernetes/kubernetes');
}
