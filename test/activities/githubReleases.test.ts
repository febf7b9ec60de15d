import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { answerReleases, talosReleaseEntries } from '../../lab/daemon/githubReleases.js';
import { LAB_RELEASES } from '../../lab/state/labState.js';
import { githubReleases, GitHubReleasesError } from '../../src/activities/githubReleases.js';
import { ReleaseList } from '../../src/domain/index.js';

// The worker's reader of Talos's GitHub releases against the lab's stand-in of that endpoint (the one
// the lab daemon serves), on a server of its own so that each answer can be counted.
let server: Server;
let url: string;
const answered: number[] = [];
let failWith: number | undefined;

beforeAll(async () => {
  server = createServer((req, res) => {
    if (failWith) {
      answered.push(failWith);
      // GitHub's answer when an address has used its hour's requests (its rate-limit headers).
      res.writeHead(failWith, { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '1795000000' }).end();
      return;
    }
    const ifNoneMatch = req.headers['if-none-match'];
    const answer = answerReleases(
      new URL(req.url ?? '/', url),
      typeof ifNoneMatch === 'string' ? ifNoneMatch : undefined,
      talosReleaseEntries(LAB_RELEASES),
    );
    answered.push(answer.status);
    res.writeHead(answer.status, answer.headers).end(answer.body || undefined);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe("Talos's releases from GitHub's releases API", () => {
  it('reads every page, leaves prereleases out, and asks again with the ETag (304s)', async () => {
    const releases = githubReleases({ apiUrl: url, repository: 'siderolabs/talos', perPage: 5 });
    answered.length = 0;
    const first = await releases.list();
    const pages = Math.ceil(talosReleaseEntries(LAB_RELEASES).length / 5);
    expect(pages).toBeGreaterThan(2);
    expect(answered).toEqual(Array(pages).fill(200));
    expect(first.unchanged).toBe(false);
    expect(first.tags).toHaveLength(LAB_RELEASES.length);
    expect(first.tags.some((t) => t.includes('-beta') || t.includes('-alpha'))).toBe(false);
    expect(new ReleaseList(first.tags).versions).toEqual(new ReleaseList(LAB_RELEASES).versions);

    answered.length = 0;
    const again = await releases.list();
    expect(answered).toEqual(Array(pages).fill(304));
    expect(again).toEqual({ tags: first.tags, unchanged: true });
  });

  it('a rate limit says what to do', async () => {
    failWith = 403;
    try {
      const releases = githubReleases({ apiUrl: url, repository: 'siderolabs/talos' });
      await expect(releases.list()).rejects.toThrow(GitHubReleasesError);
      await expect(releases.list()).rejects.toThrow(
        /rate limited until 2026-11-18T\S+: give the worker a token, or put the list in versions\.releases/,
      );
    } finally {
      failWith = undefined;
    }
  });
});
