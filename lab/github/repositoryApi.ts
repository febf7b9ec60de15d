import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { execa } from 'execa';

/**
 * A loopback stand-in for the part of GitHub's REST API the worker's GitHub repository source reads,
 * answered from a real Git repository: a commit (`GET /repos/{o}/{r}/commits/{ref}`: 422 for a ref the
 * repository does not have), a comparison (`GET /repos/{o}/{r}/compare/{base}...{head}`: `status`
 * ahead | behind | identical | diverged, and the commits reachable from head but not base, oldest
 * first, one page of at most 250 as GitHub's API lists without paging), a file's raw contents, and the
 * repository itself. Only what GitHub's REST reference says of these endpoints; nothing of the
 * product's. GitHub cannot run here; the lab serves it as it serves the Proxmox and Talos APIs.
 */
export interface RepositoryApi {
  url: string;
  /** The requests answered, as `METHOD path` (what a test may count). */
  requests: string[];
  close(): Promise<void>;
}

export const COMPARE_PAGE = 250;

export async function startRepositoryApi(options: {
  /** owner/name → the Git work tree or bare repository that answers for it. */
  repositories: Record<string, string>;
  /** The token the API requires (`Authorization: Bearer …`), if any. */
  token?: string;
}): Promise<RepositoryApi> {
  const requests: string[] = [];
  const git = (dir: string, args: string[]) => execa('git', ['-C', dir, ...args], { reject: false });
  // Each commit's record ends with a NUL, so one `git show` answers for a whole page of commits (one
  // process per commit took over 15 s for a page of 250 on a loaded machine).
  const commitsOf = async (dir: string, refs: string[]) => {
    if (refs.length === 0) return [];
    const shown = await git(dir, [
      'show',
      '-s',
      '--format=%H%n%P%n%B%x00',
      ...refs.map((ref) => `${ref}^{commit}`),
      '--',
    ]);
    if (shown.exitCode !== 0) return undefined;
    return shown.stdout
      .split('\0')
      .map((record) => record.replace(/^\n/, ''))
      .filter((record) => record.trim())
      .map((record) => {
        const [sha = '', parents = '', ...message] = record.split('\n');
        return {
          sha,
          parents: parents
            .split(' ')
            .filter(Boolean)
            .map((p) => ({ sha: p })),
          commit: { message: message.join('\n').trim() },
        };
      });
  };
  const commitOf = async (dir: string, ref: string) => (await commitsOf(dir, [ref]))?.[0];
  const answer = (response: ServerResponse, status: number, body: unknown, raw = false) => {
    response.writeHead(status, { 'content-type': raw ? 'application/octet-stream' : 'application/json' });
    response.end(raw ? String(body) : JSON.stringify(body));
  };
  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    requests.push(`${request.method} ${url.pathname}`);
    if (options.token && request.headers.authorization !== `Bearer ${options.token}`)
      return answer(response, 404, { message: 'Not Found' });
    const match = /^\/repos\/([^/]+\/[^/]+)(?:\/(commits|compare|contents)\/(.+))?$/.exec(url.pathname);
    const dir = match?.[1] ? options.repositories[match[1]] : undefined;
    if (!match || !dir) return answer(response, 404, { message: 'Not Found' });
    const [, , kind, rest = ''] = match;
    if (!kind) return answer(response, 200, { full_name: match[1] });
    if (kind === 'commits') {
      const commit = await commitOf(dir, decodeURIComponent(rest));
      return commit
        ? answer(response, 200, commit)
        : answer(response, 422, { message: `No commit found for SHA: ${decodeURIComponent(rest)}` });
    }
    if (kind === 'compare') {
      const [base = '', head = ''] = decodeURIComponent(rest).split('...');
      const [from, to] = await Promise.all([commitOf(dir, base), commitOf(dir, head)]);
      if (!from || !to) return answer(response, 404, { message: 'Not Found' });
      const ahead = (await git(dir, ['merge-base', '--is-ancestor', from.sha, to.sha])).exitCode === 0;
      const behind = (await git(dir, ['merge-base', '--is-ancestor', to.sha, from.sha])).exitCode === 0;
      const status = from.sha === to.sha ? 'identical' : ahead ? 'ahead' : behind ? 'behind' : 'diverged';
      const listed = await git(dir, ['rev-list', '--reverse', '--topo-order', `${from.sha}..${to.sha}`]);
      const shas = listed.stdout.split('\n').filter(Boolean);
      const commits = (await commitsOf(dir, shas.slice(0, COMPARE_PAGE))) ?? [];
      return answer(response, 200, { status, total_commits: shas.length, commits });
    }
    const ref = url.searchParams.get('ref') ?? 'HEAD';
    const file = await git(dir, ['show', `${ref}:${decodeURIComponent(rest)}`]);
    return file.exitCode === 0
      ? answer(response, 200, file.stdout, true)
      : answer(response, 404, { message: 'Not Found' });
  };
  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => answer(response, 500, { message: String(error) }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
