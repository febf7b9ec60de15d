import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';

/** Reads one file of a repository at one commit; undefined when the file is not there. */
export interface FileSource {
  readonly describe: string;
  read(repository: string, path: string, ref: string): Promise<string | undefined>;
}

/**
 * The source could not be read (network, auth, git): an outage, so the reading activity is retried
 * until the source is back, and the delivery waits in its cluster's queue meanwhile.
 */
export class FileSourceError extends Error {}

/** GitHub's contents API with a token (read-only "contents" permission is enough). */
export function githubContentsSource(options: { token?: string; apiUrl: string }): FileSource {
  return {
    describe: `GitHub contents API at ${options.apiUrl}`,
    async read(repository, path, ref) {
      const url = `${options.apiUrl.replace(/\/$/, '')}/repos/${repository}/contents/${path
        .split('/')
        .map(encodeURIComponent)
        .join('/')}?ref=${encodeURIComponent(ref)}`;
      let response: Response;
      try {
        response = await fetch(url, {
          headers: {
            accept: 'application/vnd.github.raw+json',
            'x-github-api-version': '2022-11-28',
            'user-agent': 'talos-upgrade',
            ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
          },
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
          headers: {
            accept: 'application/vnd.github+json',
            'user-agent': 'talos-upgrade',
            ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
          },
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
  return {
    describe: `git mirrors of ${withoutCredentials(options.urlTemplate)} in ${options.cacheDir}`,
    read: (repository, path, ref) =>
      serial(repository, async () => {
        const dir = join(options.cacheDir, `${repository.replace('/', '__')}.git`);
        const url = options.urlTemplate.replace('{repo}', repository);
        const have = await git(['-C', dir, 'cat-file', '-e', `${ref}^{commit}`]);
        if (have.exitCode !== 0) {
          await mkdir(options.cacheDir, { recursive: true });
          const exists = await git(['-C', dir, 'rev-parse', '--git-dir']);
          const sync =
            exists.exitCode === 0
              ? await git(['-C', dir, 'fetch', '--quiet', '--prune', 'origin'])
              : await git(['clone', '--quiet', '--mirror', url, dir]);
          if (sync.exitCode !== 0)
            throw new FileSourceError(
              `cannot fetch ${repository} from ${withoutCredentials(url)}: ${withoutCredentials(sync.stderr.trim().split('\n').at(-1) ?? '')}`,
            );
          const now = await git(['-C', dir, 'cat-file', '-e', `${ref}^{commit}`]);
          if (now.exitCode !== 0) return undefined;
        }
        const shown = await git(['-C', dir, 'show', `${ref}:${path}`]);
        return shown.exitCode === 0 ? shown.stdout : undefined;
      }),
  };
}
