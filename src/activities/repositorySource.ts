import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { githubHeaders } from './githubApi.js';

/** A commit of a branch's first-parent history: a merge (or a direct push) and the commit it moved from. */
export interface BranchCommit {
  sha: string;
  parent: string;
  subject: string;
}

/** Where a branch stands, and its first-parent commits after `since`, oldest first. */
export interface BranchHistory {
  head: string;
  commits: BranchCommit[];
  /** `since` is no ancestor of the head (a force push): nothing before the head is listed. */
  rewritten?: boolean;
  /** More commits came after `since` than were listed: the oldest were left out. */
  truncated?: boolean;
}

/** The most first-parent commits one poll lists: more is a branch rewritten or a poll long stopped. */
export const MAX_POLLED_COMMITS = 50;

/** Reads one file of a repository at one commit (undefined when the file is not there), and a branch's history. */
export interface FileSource {
  readonly describe: string;
  read(repository: string, path: string, ref: string): Promise<string | undefined>;
  /** The branch's head and, after `since`, its first-parent commits (at most MAX_POLLED_COMMITS). */
  history(repository: string, branch: string, since?: string): Promise<BranchHistory>;
  /** A commit (a sha, short or whole, or a branch) as its whole sha and first parent; undefined when unknown. */
  commit(repository: string, ref: string): Promise<{ sha: string; parent?: string } | undefined>;
}

/** The newest `MAX_POLLED_COMMITS` of a first-parent chain, oldest first, and whether some were left out. */
function newest(commits: BranchCommit[]): Pick<BranchHistory, 'commits' | 'truncated'> {
  return commits.length > MAX_POLLED_COMMITS
    ? { commits: commits.slice(-MAX_POLLED_COMMITS), truncated: true }
    : { commits };
}

/**
 * The source could not be read (network, auth, git): an outage, so the reading activity is retried
 * until the source is back, and the delivery waits in its cluster's queue meanwhile.
 */
export class FileSourceError extends Error {}

/** The repository has no such branch: the inventory names the wrong one, and waiting will not mend it. */
export class NoSuchBranchError extends Error {}

/** A ref in a GitHub API path: each segment escaped, the slashes of `renovate/talos` kept. */
const refPath = (ref: string) => ref.split('/').map(encodeURIComponent).join('/');

/** GitHub's contents API with a token (read-only "contents" permission is enough). */
export function githubContentsSource(options: { token?: string; apiUrl: string }): FileSource {
  const api = options.apiUrl.replace(/\/$/, '');
  const getJson = async <T>(path: string, what: string): Promise<T> => {
    let response: Response;
    try {
      response = await fetch(`${api}${path}`, {
        headers: githubHeaders(options.token),
        signal: AbortSignal.timeout(15_000),
      });
    } catch (error) {
      throw new FileSourceError(`GitHub did not answer for ${what}: ${String(error)}`);
    }
    if (!response.ok)
      throw new FileSourceError(
        `GitHub answered ${response.status} for ${what}` +
          (response.status === 401 || response.status === 403 || response.status === 404
            ? ' (check GITHUB_TOKEN and its read access to the repository)'
            : ''),
      );
    return (await response.json()) as T;
  };
  return {
    describe: `GitHub contents API at ${options.apiUrl}`,
    // The branch's head; then the compare API from `since` (its status says whether the branch was
    // rewritten; it lists the commits not reachable from `since`, with their parents). The first-parent
    // chain is walked back from the head through those, so a merged branch's own commits are not taken
    // for merges of the default branch, and it ends at the first commit the list does not hold (one
    // `since` reaches), as `git log --first-parent since..head` does. The compare API lists one page of
    // 250 commits: when it left some out, a commit the walk needs is read on its own.
    async history(repository, branch, since) {
      type Commit = { sha: string; parents: Array<{ sha: string }>; commit: { message: string } };
      const head = await getJson<Commit>(
        `/repos/${repository}/commits/${refPath(branch)}`,
        `${repository}@${branch}`,
      ).catch((error: unknown) => {
        // GitHub answers 404 for a repository it does not show, 422 for a ref it does not have.
        if (error instanceof FileSourceError && / 422 /.test(error.message))
          throw new NoSuchBranchError(`${repository} has no branch ${branch}`);
        throw error;
      });
      if (!since || since === head.sha) return { head: head.sha, commits: [] };
      const compared = await getJson<{ status: string; total_commits?: number; commits: Commit[] }>(
        `/repos/${repository}/compare/${since}...${head.sha}`,
        `${repository} ${since.slice(0, 12)}...${head.sha.slice(0, 12)}`,
      );
      if (compared.status !== 'ahead') return { head: head.sha, commits: [], rewritten: true };
      const listed = new Map(compared.commits.map((c) => [c.sha, c]));
      listed.set(head.sha, head);
      const complete = (compared.total_commits ?? compared.commits.length) <= compared.commits.length;
      const chain: BranchCommit[] = [];
      let at = head.sha;
      let reached = false;
      while (chain.length <= MAX_POLLED_COMMITS) {
        if (at === since) {
          reached = true;
          break;
        }
        const known = listed.get(at);
        if (!known && complete) {
          // Reachable from `since` without being it: every newer first-parent commit is read.
          reached = true;
          break;
        }
        const commit =
          known ?? (await getJson<Commit>(`/repos/${repository}/commits/${at}`, `${repository}@${at}`));
        const parent = commit.parents[0]?.sha ?? '';
        chain.unshift({ sha: commit.sha, parent, subject: commit.commit.message.split('\n')[0] ?? '' });
        if (!parent) break;
        at = parent;
      }
      const listedSome = newest(chain);
      return { head: head.sha, ...listedSome, ...(reached ? {} : { truncated: true }) };
    },
    async commit(repository, ref) {
      const found = await getJson<{ sha: string; parents: Array<{ sha: string }> }>(
        `/repos/${repository}/commits/${refPath(ref)}`,
        `${repository}@${ref}`,
      ).catch((error: unknown) => {
        if (error instanceof FileSourceError && / 422 /.test(error.message)) return undefined;
        throw error;
      });
      if (!found) return undefined;
      const parent = found.parents[0]?.sha;
      return { sha: found.sha, ...(parent ? { parent } : {}) };
    },
    async read(repository, path, ref) {
      const url = `${options.apiUrl.replace(/\/$/, '')}/repos/${repository}/contents/${path
        .split('/')
        .map(encodeURIComponent)
        .join('/')}?ref=${encodeURIComponent(ref)}`;
      let response: Response;
      try {
        response = await fetch(url, {
          headers: githubHeaders(options.token, 'application/vnd.github.raw+json'),
          signal: AbortSignal.timeout(15_000),
        });
      } catch (error) {
        throw new FileSourceError(
          `GitHub did not answer for ${repository}/${path}@${ref.slice(0, 12)}: ${String(error)}`,
        );
      }
      if (response.status === 404) {
        // GitHub answers 404 for a file of a private repository it does not let the token see: ask for
        // the repository itself, so a missing token is an outage to fix, not "no such file".
        const repo = await fetch(`${options.apiUrl.replace(/\/$/, '')}/repos/${repository}`, {
          headers: githubHeaders(options.token),
          signal: AbortSignal.timeout(15_000),
        }).catch(() => undefined);
        if (repo?.ok) return undefined;
        throw new FileSourceError(
          `GitHub does not show ${repository}${repo ? ` (${repo.status})` : ''}: set GITHUB_TOKEN for the worker, with read access to its contents`,
        );
      }
      if (!response.ok)
        throw new FileSourceError(
          `GitHub answered ${response.status} for ${repository}/${path}@${ref.slice(0, 12)}` +
            (response.status === 401 || response.status === 403
              ? ' (check GITHUB_TOKEN and its access)'
              : ''),
        );
      return response.text();
    },
  };
}

/** Text that may hold URLs, as it may be logged or shown: every user and password taken out of them. */
export function withoutCredentials(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/gi, '$1');
}

/**
 * A mirror clone per repository, fetched before each read: works with any Git server the worker can
 * reach, including a local path. `urlTemplate` turns owner/name into a clone URL ({repo}).
 */
export function gitCloneSource(options: { urlTemplate: string; cacheDir: string }): FileSource {
  const locks = new Map<string, Promise<unknown>>();
  // One git operation per mirror at a time: concurrent fetches into one repository fail on its lock.
  const serial = <T>(key: string, work: () => Promise<T>): Promise<T> => {
    const next = (locks.get(key) ?? Promise.resolve()).then(work, work);
    locks.set(
      key,
      next.catch(() => undefined),
    );
    return next;
  };
  const git = (args: string[]) => execa('git', args, { reject: false, timeout: 120_000 });
  const mirrorOf = (repository: string) => join(options.cacheDir, `${repository.replace('/', '__')}.git`);
  /** The mirror, cloned or fetched now. */
  const sync = async (repository: string): Promise<string> => {
    const dir = mirrorOf(repository);
    const url = options.urlTemplate.replace('{repo}', repository);
    await mkdir(options.cacheDir, { recursive: true });
    const exists = await git(['-C', dir, 'rev-parse', '--git-dir']);
    // The URL as configured now (it may have moved since the mirror was cloned).
    if (exists.exitCode === 0) {
      const moved = await git(['-C', dir, 'remote', 'set-url', 'origin', url]);
      if (moved.exitCode !== 0)
        throw new FileSourceError(
          `cannot point the mirror of ${repository} at ${withoutCredentials(url)}: ${moved.stderr.trim()}`,
        );
    }
    const synced =
      exists.exitCode === 0
        ? await git(['-C', dir, 'fetch', '--quiet', '--prune', 'origin'])
        : await git(['clone', '--quiet', '--mirror', url, dir]);
    if (synced.exitCode !== 0)
      throw new FileSourceError(
        `cannot fetch ${repository} from ${withoutCredentials(url)}: ${withoutCredentials(synced.stderr.trim().split('\n').at(-1) ?? '')}`,
      );
    return dir;
  };
  return {
    describe: `git mirrors of ${withoutCredentials(options.urlTemplate)} in ${options.cacheDir}`,
    history: (repository, branch, since) =>
      serial(repository, async () => {
        const dir = await sync(repository);
        const head = (
          await git(['-C', dir, 'rev-parse', '--verify', '--quiet', `refs/heads/${branch}^{commit}`])
        ).stdout.trim();
        if (!head) throw new NoSuchBranchError(`${repository} has no branch ${branch}`);
        if (!since || since === head) return { head, commits: [] };
        const ancestor = await git(['-C', dir, 'merge-base', '--is-ancestor', since, head]);
        if (ancestor.exitCode !== 0) return { head, commits: [], rewritten: true };
        const listed = await git([
          '-C',
          dir,
          'log',
          '--first-parent',
          '--reverse',
          '--format=%H %P%x09%s',
          `${since}..${head}`,
        ]);
        if (listed.exitCode !== 0)
          throw new FileSourceError(
            `cannot list ${repository} ${since.slice(0, 12)}..${head.slice(0, 12)}: ${listed.stderr.trim()}`,
          );
        const commits = listed.stdout
          .split('\n')
          .filter(Boolean)
          .map((line) => {
            const [shas = '', subject = ''] = line.split('\t');
            const [sha = '', parent = ''] = shas.split(' ');
            return { sha, parent, subject };
          });
        return { head, ...newest(commits) };
      }),
    commit: (repository, ref) =>
      serial(repository, async () => {
        const dir = await sync(repository);
        const sha = (
          await git(['-C', dir, 'rev-parse', '--verify', '--quiet', `${ref}^{commit}`])
        ).stdout.trim();
        if (!sha) return undefined;
        const parent = (await git(['-C', dir, 'rev-parse', '--verify', '--quiet', `${sha}^1`])).stdout.trim();
        return { sha, ...(parent ? { parent } : {}) };
      }),
    read: (repository, path, ref) =>
      serial(repository, async () => {
        const dir = mirrorOf(repository);
        const have = await git(['-C', dir, 'cat-file', '-e', `${ref}^{commit}`]);
        if (have.exitCode !== 0) {
          await sync(repository);
          const now = await git(['-C', dir, 'cat-file', '-e', `${ref}^{commit}`]);
          if (now.exitCode !== 0) return undefined;
        }
        const shown = await git(['-C', dir, 'show', `${ref}:${path}`]);
        return shown.exitCode === 0 ? shown.stdout : undefined;
      }),
  };
}
