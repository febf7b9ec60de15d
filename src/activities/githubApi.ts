/** The headers of a request to GitHub's REST API: its media type and version, who asks, the token if any. */
export function githubHeaders(
  token: string | undefined,
  accept = 'application/vnd.github+json',
): Record<string, string> {
  return {
    accept,
    'x-github-api-version': '2022-11-28',
    'user-agent': 'talos-upgrade',
    ...(token ? { authorization: `Bearer ${token}` } : {}),
  };
}
