import { githubHeaders } from './githubApi.js';

/**
 * A project's releases from GitHub's releases API (`GET /repos/{owner}/{repo}/releases`), every page
 * (its `Link: rel="next"`, followed only on the API's own host), drafts and prereleases left out. Each
 * page's answer is kept with its ETag and asked again with `If-None-Match`: an unchanged page is a 304
 * (with a token GitHub does not count it against the rate limit; without one, 60 requests an hour per
 * address, every page counts). A token is optional: the repositories read here are public.
 */
export interface GitHubReleases {
  /** The released tags (as tagged: `v1.12.5`), and whether every page was unchanged since the last read. */
  list(): Promise<{ tags: string[]; unchanged: boolean }>;
}

export class GitHubReleasesError extends Error {}

/** More pages than this is not a release list (Talos has a few hundred releases, Kubernetes under a thousand, 100 a page). */
const MAX_PAGES = 20;

export function githubReleases(options: {
  apiUrl: string;
  repository: string;
  token?: string;
  /** Entries per page: GitHub's maximum by default. */
  perPage?: number;
  timeoutMs?: number;
}): GitHubReleases {
  const cache = new Map<string, { etag: string; tags: string[]; next?: string }>();
  const first = `${options.apiUrl.replace(/\/$/, '')}/repos/${options.repository}/releases?per_page=${options.perPage ?? 100}`;
  async function page(url: string): Promise<{ tags: string[]; next?: string; unchanged: boolean }> {
    const cached = cache.get(url);
    let response: Response;
    try {
      response = await fetch(url, {
        headers: {
          ...githubHeaders(options.token),
          ...(cached ? { 'if-none-match': cached.etag } : {}),
        },
        signal: AbortSignal.timeout(options.timeoutMs ?? 15_000),
      });
    } catch (error) {
      throw new GitHubReleasesError(
        `GitHub did not answer for the releases of ${options.repository}: ${String(error)}`,
      );
    }
    if (response.status === 304 && cached) return { ...cached, unchanged: true };
    if (!response.ok) {
      const limited =
        response.status === 429 ||
        (response.status === 403 && response.headers.get('x-ratelimit-remaining') === '0');
      const reset = Number(response.headers.get('x-ratelimit-reset') ?? 0);
      throw new GitHubReleasesError(
        `GitHub answered ${response.status} for the releases of ${options.repository}` +
          (limited
            ? ` (rate limited${reset ? ` until ${new Date(reset * 1000).toISOString()}` : ''}: give the worker a token, or put the list in versions.releases)`
            : response.status === 401 || response.status === 403
              ? ' (the token was refused: check it, or send none)'
              : ''),
      );
    }
    const entries = (await response.json().catch(() => undefined)) as
      Array<{ tag_name?: string; draft?: boolean; prerelease?: boolean }> | undefined;
    if (!Array.isArray(entries))
      throw new GitHubReleasesError(`${url} did not answer a list of releases (is it GitHub's API?)`);
    const tags = entries.filter((e) => !e.draft && !e.prerelease && e.tag_name).map((e) => e.tag_name ?? '');
    const linked = /<([^>]+)>;\s*rel="next"/.exec(response.headers.get('link') ?? '')?.[1];
    // The token goes nowhere but the API it was given for.
    const next = linked && new URL(linked).origin === new URL(first).origin ? linked : undefined;
    const etag = response.headers.get('etag');
    if (etag) cache.set(url, { etag, tags, ...(next ? { next } : {}) });
    return { tags, ...(next ? { next } : {}), unchanged: false };
  }
  return {
    async list() {
      const tags: string[] = [];
      let unchanged = true;
      let url: string | undefined = first;
      for (let pages = 0; url; pages++) {
        if (pages === MAX_PAGES)
          throw new GitHubReleasesError(`the releases of ${options.repository} run past ${MAX_PAGES} pages`);
        const read: Awaited<ReturnType<typeof page>> = await page(url);
        tags.push(...read.tags);
        unchanged &&= read.unchanged;
        url = read.next;
      }
      return { tags, unchanged };
    },
  };
}
