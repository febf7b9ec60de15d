import { githubReleases, type GitHubReleases } from '../activities/githubReleases.js';
import { secretFromEnv } from './envSecret.js';

/**
 * Talos's releases, from GitHub's API (GITHUB_API_URL for GitHub Enterprise or a mirror of the API;
 * GITHUB_TOKEN is optional: the repository is public, and unchanged pages cost no rate limit).
 */
export async function talosReleasesFromEnv(env: NodeJS.ProcessEnv): Promise<GitHubReleases> {
  const token = await secretFromEnv(env, 'GITHUB_TOKEN');
  return githubReleases({
    apiUrl: env.GITHUB_API_URL ?? 'https://api.github.com',
    repository: 'siderolabs/talos',
    ...(token ? { token } : {}),
  });
}
