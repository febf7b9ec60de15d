import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { sign } from '@octokit/webhooks-methods';
import { LAB_GITIGNORE, mergePullRequest } from '../../lab/github/gitHost.js';
import { applyRenovateBranch } from '../../lab/renovate/applyBranch.js';
import { runRenovate, type RenovateBranch } from '../../lab/renovate/renovateRun.js';

/** git in `repo` with Renovate's identity, as the bot's commits carry it. */
export const gitAsRenovate = (repo: string, args: string[]) =>
  execa('git', [
    '-C',
    repo,
    '-c',
    'user.name=renovate[bot]',
    '-c',
    'user.email=bot@renovate.invalid',
    ...args,
  ]);

/**
 * Makes the lab's repository a Git repository on main, as the user's repository would be; with a
 * Renovate config, that config is committed as renovate.json.
 */
export async function initRepository(repo: string, renovateConfig?: Record<string, unknown>): Promise<void> {
  await writeFile(join(repo, '.gitignore'), LAB_GITIGNORE);
  if (renovateConfig)
    await writeFile(join(repo, 'renovate.json'), `${JSON.stringify(renovateConfig, null, 2)}\n`);
  await gitAsRenovate(repo, ['init', '--quiet', '--initial-branch', 'main']);
  await gitAsRenovate(repo, ['add', '-A']);
  await gitAsRenovate(repo, ['commit', '--quiet', '-m', 'prox-ops: cluster as deployed']);
}

/**
 * The pull request the real Renovate opens for the repository as it is on main: its lookup, against
 * the releases stand-in, and the one branch `wanted` picks. Throws, listing them, when none fits.
 */
export async function renovatePullRequest(
  repo: string,
  renovate: string,
  wanted: (branch: RenovateBranch) => boolean,
): Promise<RenovateBranch> {
  const result = await runRenovate({ renovate, repoDir: repo, mode: 'lookup' });
  if (result.configErrors.length)
    throw new Error(`Renovate refused renovate.json: ${result.configErrors.join('; ')}`);
  const branch = result.branches.find(wanted);
  if (!branch)
    throw new Error(
      `Renovate proposed no such pull request; it proposed: ${result.branches.map((b) => `${b.branchName} (${b.prTitle})`).join(', ') || 'nothing'}`,
    );
  return branch;
}

/** A branch whose Talos upgrade of terraform/variables.tf lands on `to`. */
export const bumpsTalosTo = (to: string) => (branch: RenovateBranch) =>
  branch.upgrades.some(
    (u) =>
      u.depName === 'siderolabs/talos' && u.packageFile === 'terraform/variables.tf' && u.newValue === to,
  );

/**
 * What a reviewer does with Renovate's pull request: its branch, written as Renovate writes it,
 * merged into main with a merge commit. Returns the shas GitHub puts in the pull_request event.
 */
export function mergeRenovateBranch(
  repo: string,
  number: number,
  branch: RenovateBranch,
): Promise<{ base: string; merge: string }> {
  return mergePullRequest(
    repo,
    { number, branch: branch.branchName, title: branch.prTitle },
    async (workTree) => {
      await applyRenovateBranch(workTree, branch);
    },
  );
}

/**
 * A hand-made bump of talos_version in terraform/variables.tf, merged into main: the same text change
 * Renovate's preset makes on the lab's block layout (test/renovate shows it), for the tests that do
 * not run Renovate itself. Returns the shas GitHub would put in the pull_request event.
 */
export async function mergeVersionBump(
  repo: string,
  number: number,
  to: string,
): Promise<{ base: string; merge: string; from: string }> {
  const block = /(variable "talos_version"[^}]*default\s*=\s*")([^"]+)(")/s;
  let from = '?';
  const merged = await mergePullRequest(
    repo,
    { number, branch: `renovate/talos-${to}`, title: `chore(deps): update talos to v${to}` },
    {
      'terraform/variables.tf': (text) => {
        from = block.exec(text)?.[2] ?? '?';
        return text.replace(block, `$1${to}$3`);
      },
    },
  );
  return { ...merged, from };
}

/** The pull_request "closed" delivery GitHub sends for that merge, signed with the shared secret. */
export async function deliverMergedPullRequest(options: {
  url: string;
  secret: string;
  repository: string;
  number: number;
  title: string;
  base: string;
  merge: string;
  labels?: string[];
}): Promise<{ status: number; body: string }> {
  const payload = JSON.stringify({
    action: 'closed',
    number: options.number,
    pull_request: {
      number: options.number,
      title: options.title,
      state: 'closed',
      merged: true,
      merge_commit_sha: options.merge,
      base: { ref: 'main', sha: options.base },
      head: { ref: `renovate/${options.number}`, sha: options.merge },
      labels: (options.labels ?? []).map((name) => ({ name })),
      user: { login: 'renovate[bot]' },
    },
    repository: { full_name: options.repository, default_branch: 'main' },
    sender: { login: 'renovate[bot]' },
  });
  const response = await fetch(options.url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-github-event': 'pull_request',
      'x-github-delivery': crypto.randomUUID(),
      'x-hub-signature-256': await sign(options.secret, payload),
    },
    body: payload,
  });
  return { status: response.status, body: await response.text() };
}
