import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execa } from 'execa';
import { defaultBranch, originOf } from '../../src/activities/discovery/repository.js';
import { labGitHubDir, mergePullRequest, publishOnLabGitHub } from '../../lab/github/gitHost.js';

/**
 * What init reads of the user's clone (src/activities/discovery/repository.ts), on real Git work
 * trees: the GitHub repository in origin's URL however the user's Git spells it, and the branch merges
 * land on.
 */
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'talos-upgrade-origin-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function workTree(name: string, config: Array<[string, string]> = []): Promise<string> {
  const tree = join(dir, name);
  await execa('git', ['init', '-q', '-b', 'main', tree]);
  for (const [key, value] of config) await execa('git', ['-C', tree, 'config', key, value]);
  return tree;
}

describe("the user's clone, as init reads it", () => {
  it('finds owner/name in an https, ssh or scp-like GitHub URL, with or without .git', async () => {
    for (const url of [
      'https://github.com/homelab/atlas.git',
      'https://github.com/homelab/atlas',
      'ssh://git@github.com/homelab/atlas.git',
      'git@github.com:homelab/atlas.git',
      'https://github.com:443/homelab/atlas.git',
      'ssh://git@github.com:22/homelab/atlas',
      'HTTPS://GitHub.com/homelab/atlas.git',
    ]) {
      const tree = await workTree(`url-${url.replace(/\W/g, '_')}`, [['remote.origin.url', url]]);
      expect([url, await originOf(tree)]).toEqual([url, { url, github: 'homelab/atlas' }]);
    }
  });

  it('reads origin as written and as Git rewrites it (url.<base>.insteadOf), either way', async () => {
    // A GitHub URL rewritten to a mirror: the repository is still the one on GitHub.
    const mirrored = await workTree('mirrored', [
      ['remote.origin.url', 'https://github.com/homelab/atlas.git'],
      ['url./srv/mirrors/.insteadOf', 'https://github.com/'],
    ]);
    expect(await originOf(mirrored)).toEqual({
      url: 'https://github.com/homelab/atlas.git',
      github: 'homelab/atlas',
    });
    // A shorthand the user's Git expands to GitHub.
    const shorthand = await workTree('shorthand', [
      ['remote.origin.url', 'gh:homelab/atlas'],
      ['url.https://github.com/.insteadOf', 'gh:'],
    ]);
    expect(await originOf(shorthand)).toEqual({ url: 'gh:homelab/atlas', github: 'homelab/atlas' });
  });

  it('another host, or no origin: no GitHub repository (init then asks for --github)', async () => {
    const gitea = await workTree('gitea', [['remote.origin.url', 'https://git.home.arpa/homelab/atlas.git']]);
    expect(await originOf(gitea)).toEqual({ url: 'https://git.home.arpa/homelab/atlas.git' });
    expect(await originOf(await workTree('none'))).toEqual({});
    // A host whose name only holds github.com is another host.
    for (const url of [
      'https://notgithub.com/homelab/atlas.git',
      'https://github.com.evil.example/homelab/atlas.git',
    ]) {
      const lookalike = await workTree(`lookalike-${url.replace(/\W/g, '_')}`, [['remote.origin.url', url]]);
      expect(await originOf(lookalike)).toEqual({ url });
    }
  });

  it("a clone of the lab's GitHub: origin's URL and HEAD as git clone leaves them, and fetches reach the lab", async () => {
    const clone = await workTree('clone');
    await writeFile(join(clone, 'variables.tf'), 'variable "talos_version" { default = "1.11.3" }\n');
    const hosted = await publishOnLabGitHub(dir, clone, 'homelab/atlas');
    expect(hosted).toBe(join(labGitHubDir(dir), 'homelab', 'atlas.git'));
    expect(await originOf(clone)).toEqual({
      url: 'https://github.com/homelab/atlas.git',
      github: 'homelab/atlas',
    });
    expect(await defaultBranch(clone)).toEqual({ branch: 'main', from: 'origin' });
    const { merge } = await mergePullRequest(
      hosted,
      { number: 7, branch: 'renovate/talos', title: 'Talos 1.11.4' },
      { 'variables.tf': (text) => text.replace('1.11.3', '1.11.4') },
    );
    await execa('git', ['-C', clone, 'fetch', '-q', 'origin']);
    expect((await execa('git', ['-C', clone, 'rev-parse', 'origin/main'])).stdout).toBe(merge);
    expect((await execa('git', ['-C', clone, 'log', '-1', '--format=%s', merge])).stdout).toBe(
      'Merge pull request #7 from renovate/talos',
    );
  });
});
