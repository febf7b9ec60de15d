import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execa } from 'execa';
import { COMPARE_PAGE, startRepositoryApi, type RepositoryApi } from '../../lab/github/repositoryApi.js';
import {
  FileSourceError,
  gitCloneSource,
  githubContentsSource,
  MAX_POLLED_COMMITS,
  NoSuchBranchError,
} from '../../src/activities/repositorySource.js';

// The worker's GitHub source (the poll trigger's reading of a branch) against the lab's stand-in of
// GitHub's commits, compare and contents endpoints, answered from a real repository.
let dir: string;
let api: RepositoryApi;
const git = async (args: string[]) => (await execa('git', ['-C', dir, ...args])).stdout.trim();
const commit = async (message: string, file?: [string, string]) => {
  if (file) await writeFile(join(dir, file[0]), file[1]);
  await git(['commit', '--quiet', '--allow-empty', '-am', message]);
  return git(['rev-parse', 'HEAD']);
};
const source = () => githubContentsSource({ apiUrl: api.url, token: 'read-only' });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'github-source-'));
  await execa('git', ['init', '--quiet', '--initial-branch', 'main', dir]);
  await git(['config', 'user.email', 'lab@example.invalid']);
  await git(['config', 'user.name', 'lab']);
  await writeFile(join(dir, 'versions.auto.tfvars'), 'talos_version = "v1.11.3"\n');
  await git(['add', '.']);
  await commit('initial');
  api = await startRepositoryApi({ repositories: { 'homelab/atlas': dir }, token: 'read-only' });
});

afterAll(async () => {
  await api.close();
  await rm(dir, { recursive: true, force: true });
});

describe("the GitHub source's history of a branch", () => {
  it('lists first-parent commits only: a merged branch’s own commits are not merges of main', async () => {
    const since = await git(['rev-parse', 'HEAD']);
    expect(await source().history('homelab/atlas', 'main', since)).toEqual({ head: since, commits: [] });
    await git(['checkout', '--quiet', '-b', 'renovate/talos']);
    await commit('chore(deps): update talos to v1.11.4', [
      'versions.auto.tfvars',
      'talos_version = "v1.11.4"\n',
    ]);
    await commit('fixup');
    await git(['checkout', '--quiet', 'main']);
    await commit('docs');
    await git(['merge', '--quiet', '--no-ff', '-m', 'Merge pull request #1', 'renovate/talos']);
    const merge = await git(['rev-parse', 'HEAD']);
    const history = await source().history('homelab/atlas', 'main', since);
    expect(history.head).toBe(merge);
    expect(history.commits.map((c) => c.subject)).toEqual(['docs', 'Merge pull request #1']);
    expect(history.commits[1]?.parent).toBe(history.commits[0]?.sha);
    expect(history.truncated).toBeUndefined();
    expect(await source().read('homelab/atlas', 'versions.auto.tfvars', merge)).toContain('v1.11.4');
    expect(await source().read('homelab/atlas', 'versions.auto.tfvars', since)).toContain('v1.11.3');
    expect(await source().read('homelab/atlas', 'absent.tfvars', merge)).toBeUndefined();
  });

  it(`past the compare API's page of ${COMPARE_PAGE} commits: the newest ${MAX_POLLED_COMMITS}, said to be truncated`, async () => {
    const since = await git(['rev-parse', 'HEAD']);
    for (let i = 1; i <= COMPARE_PAGE + 10; i++) await commit(`commit ${i}`);
    const head = await git(['rev-parse', 'HEAD']);
    const history = await source().history('homelab/atlas', 'main', since);
    expect(history.head).toBe(head);
    expect(history.truncated).toBe(true);
    expect(history.commits).toHaveLength(MAX_POLLED_COMMITS);
    expect(history.commits.at(-1)?.sha).toBe(head);
    expect(history.commits[0]?.subject).toBe(`commit ${COMPARE_PAGE + 10 - MAX_POLLED_COMMITS + 1}`);
    history.commits.slice(1).forEach((c, i) => expect(c.parent).toBe(history.commits[i]?.sha));
  });

  it('main fast-forwarded to a branch that merged main: the walk stops where the last poll’s head reaches, as git log does', async () => {
    const start = await git(['rev-parse', 'HEAD']);
    await git(['checkout', '--quiet', '-b', 'feature']);
    await commit('feature work');
    await git(['checkout', '--quiet', 'main']);
    const since = await commit('main moves on');
    await git(['checkout', '--quiet', 'feature']);
    await git(['merge', '--quiet', '--no-ff', '-m', 'merge main into feature', 'main']);
    await git(['checkout', '--quiet', 'main']);
    await git(['merge', '--quiet', '--ff-only', 'feature']);
    const history = await source().history('homelab/atlas', 'main', since);
    expect(history.commits.map((c) => c.subject)).toEqual(['feature work', 'merge main into feature']);
    expect(history.commits[0]?.parent).toBe(start);
    expect(history.truncated).toBeUndefined();
    const mirror = await mkdtemp(join(tmpdir(), 'github-source-mirror-'));
    try {
      const viaGit = await gitCloneSource({ urlTemplate: dir, cacheDir: mirror }).history(
        'homelab/atlas',
        'main',
        since,
      );
      expect(viaGit.commits).toEqual(history.commits);
    } finally {
      await rm(mirror, { recursive: true, force: true });
    }
    // A branch name with a slash, as Renovate names them.
    await git(['branch', 'renovate/talos-1.11.5']);
    expect(await source().commit('homelab/atlas', 'renovate/talos-1.11.5')).toEqual({
      sha: history.head,
      parent: history.commits[1]?.parent,
    });
  });

  it('a rewritten branch, a branch that is not there, a token GitHub does not take', async () => {
    const since = await git(['rev-parse', 'HEAD']);
    await git(['reset', '--quiet', '--hard', 'HEAD~1']);
    const rewritten = await commit('rewritten');
    expect(await source().history('homelab/atlas', 'main', since)).toEqual({
      head: rewritten,
      commits: [],
      rewritten: true,
    });
    await expect(source().history('homelab/atlas', 'master', since)).rejects.toThrow(NoSuchBranchError);
    const stranger = githubContentsSource({ apiUrl: api.url, token: 'wrong' });
    await expect(stranger.history('homelab/atlas', 'main', since)).rejects.toThrow(FileSourceError);
    await expect(stranger.read('homelab/atlas', 'versions.auto.tfvars', 'main')).rejects.toThrow(
      /set GITHUB_TOKEN/,
    );
  });
});
