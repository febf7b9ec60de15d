import { createHash } from 'node:crypto';

/**
 * The lab's stand-in for GitHub's "list releases" endpoint (`GET /repos/{owner}/{repo}/releases`) of
 * siderolabs/talos and kubernetes/kubernetes, as GitHub's REST reference describes it: newest first, `per_page` (default 30, at
 * most 100) and `page`, a `Link` header with `next` and `last` while pages remain, and a strong `ETag`
 * that a request's `If-None-Match` turns into `304 Not Modified` with no body (which GitHub does not
 * count against the rate limit). Talos publishes alphas and betas as prereleases before each minor,
 * Kubernetes alphas, betas and release candidates, so the lab lists those too: a reader that takes a
 * prerelease for a release would be caught here.
 */
export interface ReleaseEntry {
  tag_name: string;
  name: string;
  draft: boolean;
  prerelease: boolean;
  published_at: string;
}

/** The lab's Talos releases as GitHub lists them: each minor's x.y.0 preceded by its alpha and beta. */
export function talosReleaseEntries(releases: readonly string[]): ReleaseEntry[] {
  return releaseEntries(releases, ['alpha.1', 'beta.0']);
}

/** The lab's Kubernetes releases as GitHub lists them: each x.y.0 after its alpha, beta and rc. */
export function kubernetesReleaseEntries(releases: readonly string[]): ReleaseEntry[] {
  return releaseEntries(releases, ['alpha.1', 'beta.0', 'rc.0']);
}

function releaseEntries(releases: readonly string[], prereleases: string[]): ReleaseEntry[] {
  const tags: Array<{ tag: string; prerelease: boolean }> = [];
  for (const version of releases) {
    if (version.endsWith('.0'))
      for (const pre of prereleases) tags.push({ tag: `v${version}-${pre}`, prerelease: true });
    tags.push({ tag: `v${version}`, prerelease: false });
  }
  // A day apart, in release order; listed newest first.
  const start = Date.UTC(2024, 0, 1);
  return tags
    .map(({ tag, prerelease }, i) => ({
      tag_name: tag,
      name: tag,
      draft: false,
      prerelease,
      published_at: new Date(start + i * 86_400_000).toISOString(),
    }))
    .reverse();
}

export function answerReleases(
  url: URL,
  ifNoneMatch: string | undefined,
  entries: ReleaseEntry[],
): { status: number; headers: Record<string, string>; body: string } {
  const perPage = Math.min(100, Math.max(1, Number(url.searchParams.get('per_page') ?? 30) || 30));
  const page = Math.max(1, Number(url.searchParams.get('page') ?? 1) || 1);
  const last = Math.max(1, Math.ceil(entries.length / perPage));
  const body = JSON.stringify(entries.slice((page - 1) * perPage, page * perPage));
  const etag = `"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"`;
  const link = (p: number) => {
    const next = new URL(url);
    next.searchParams.set('per_page', String(perPage));
    next.searchParams.set('page', String(p));
    return next.toString();
  };
  const headers: Record<string, string> = {
    'Content-Type': 'application/json; charset=utf-8',
    ETag: etag,
    ...(page < last ? { Link: `<${link(page + 1)}>; rel="next", <${link(last)}>; rel="last"` } : {}),
  };
  if (ifNoneMatch === etag) return { status: 304, headers: { ETag: etag }, body: '' };
  return { status: 200, headers, body };
}
