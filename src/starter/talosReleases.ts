import { githubReleases, type GitHubReleases } from '../activities/githubReleases.js';
import { secretFromEnv } from './envSecret.js';

/**
 * Talos's releases, from github.com's API (TALOS_UPGRADE_RELEASES_API_URL for a mirror of that API).
 * Not GITHUB_API_URL: that one may name a GitHub Enterprise server, where siderolabs/talos is not. The
 * token is optional (a public repository): GITHUB_TOKEN is sent only when it is github.com's (no
 * GITHUB_API_URL), TALOS_UPGRADE_RELEASES_TOKEN otherwise.
 */
export async function talosReleasesFromEnv(env: NodeJS.ProcessEnv): Promise<GitHubReleases> {
  const token =
    (await secretFromEnv(env, 'TALOS_UPGRADE_RELEASES_TOKEN')) ??
    (env.GITHUB_API_URL ? undefined : await secretFromEnv(env, 'GITHUB_TOKEN'));
  return githubReleases({
    apiUrl: env.TALOS_UPGRADE_RELEASES_API_URL ?? 'https://api.github.com',
    repository: 'siderolabs/talos',
    ...(token ? { token } : {}),
  });
}
