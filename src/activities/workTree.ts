import { relative } from 'node:path';
import { gitRoot } from './discovery/repository.js';
import { withoutCredentials } from './repositorySource.js';
import { runCommand } from './runCommand.js';

/**
 * Where the worker's clone of the user's repository stands against the commit a run acts on. The
 * worker plans and applies Terraform, and reads machine configs and patches, from that clone: a clone
 * left at an older commit would rebuild a node from an older root (another module, schematic or VM
 * size) than the one the pull request was reviewed against.
 */
export type CloneState =
  /** The Terraform root is no Git work tree: the product plans with what is on disk. */
  | { state: 'not-git'; root: string }
  /** HEAD holds the commit (at it, or after it). */
  | { state: 'at'; root: string; head: string }
  /**
   * A dry run: HEAD is behind, and a run fast-forwards it to the commit first; or (`note`) the commit
   * is a pull request's head the clone cannot reach, and the run acts on its merge commit.
   */
  | {
      state: 'behind';
      root: string;
      head: string;
      commit: string;
      files: string[];
      note?: 'not on origin' | 'off the branch';
    }
  | { state: 'moved'; root: string; from: string; to: string; files: string[] };

/** The clone cannot be brought to the commit without a person: nothing was changed. */
export class CloneRefusal extends Error {}

/** The clone's remote could not be read (network, credentials): worth another try. */
export class CloneFetchError extends Error {}

// No prompt for credentials (a worker has no terminal), no pager, no editor.
const GIT_ENV = { GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: 'true', GIT_PAGER: 'cat', GIT_EDITOR: 'true' };

const git = (root: string, args: string[], timeoutMs = 60_000) =>
  runCommand('git', ['-C', root, ...args], { env: GIT_ENV, timeoutMs, input: '' });

const short = (sha: string) => sha.slice(0, 12);

/** The commit as a whole sha, when the clone has it. */
async function resolved(root: string, commit: string): Promise<string | undefined> {
  const result = await git(root, ['rev-parse', '--verify', '--quiet', `${commit}^{commit}`]);
  return result.exitCode === 0 ? result.stdout.trim() : undefined;
}

/**
 * Fetches origin, so that a commit merged on GitHub after the clone was last pulled is there. A dry
 * run's commit that is still not there is undefined (a fork's pull request head); a run's is refused.
 */
async function fetchOrigin(root: string, commit: string, dryRun: boolean): Promise<string | undefined> {
  const remotes = (await git(root, ['remote'])).stdout.split('\n').filter(Boolean);
  if (!remotes.includes('origin')) {
    if (dryRun) return undefined;
    throw new CloneRefusal(
      `${root} does not have commit ${short(commit)} and no remote "origin" to fetch it from: ` +
        'pull the merge into the clone the worker plans from (or add origin), then start the run again',
    );
  }
  const fetched = await git(root, ['fetch', '--quiet', 'origin'], 180_000);
  if (fetched.exitCode !== 0)
    throw new CloneFetchError(
      `git fetch origin in ${root} failed: ${withoutCredentials(fetched.stderr.trim().split('\n').at(-1) ?? '')}`,
    );
  const sha = await resolved(root, commit);
  if (!sha && !dryRun)
    throw new CloneRefusal(
      `commit ${short(commit)} is not on origin of ${root} (fetched just now): the clone's origin is not the ` +
        'repository the merge was made in; point it there (git remote set-url origin …)',
    );
  return sha;
}

/** Tracked files that differ from HEAD: a fast-forward would keep them, and Terraform would plan them. */
async function localChanges(root: string): Promise<string[]> {
  const status = await git(root, ['status', '--porcelain', '--untracked-files=no']);
  if (status.exitCode !== 0) throw new CloneRefusal(`git status in ${root} failed: ${status.stderr.trim()}`);
  return status.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => line.slice(3));
}

/**
 * Brings the Git work tree that holds `dir` to `commit` by a fast-forward, fetching origin when the
 * commit is not there yet. Refused, with nothing changed, when the clone has diverged from the commit
 * or has uncommitted changes to tracked files. A dry run moves nothing and refuses only what the run
 * would refuse in any case (uncommitted changes): a pull request's head, not yet merged, may be off
 * the branch or on no remote the clone fetches, and the run acts on its merge commit instead.
 */
export async function bringCloneTo(dir: string, commit: string, dryRun: boolean): Promise<CloneState> {
  const root = await gitRoot(dir);
  if (!root) return { state: 'not-git', root: dir };
  const headOf = await git(root, ['rev-parse', '--verify', '--quiet', 'HEAD^{commit}']);
  const head = headOf.stdout.trim();
  if (headOf.exitCode !== 0 || !head)
    throw new CloneRefusal(`${root} has no commit checked out: clone the repository there, then start again`);
  const changed = await localChanges(root);
  const sha = await resolved(root, commit).then((known) => known ?? fetchOrigin(root, commit, dryRun));
  if (!sha) return { state: 'behind', root, head, commit, files: [], note: 'not on origin' };
  if ((await git(root, ['merge-base', '--is-ancestor', sha, head])).exitCode === 0)
    return { state: 'at', root, head };
  if ((await git(root, ['merge-base', '--is-ancestor', head, sha])).exitCode !== 0) {
    if (dryRun) return { state: 'behind', root, head, commit: sha, files: [], note: 'off the branch' };
    throw new CloneRefusal(
      `${root} is at ${short(head)}, which is not on the way to the merge ${short(sha)} (local commits, or another ` +
        'branch checked out): nothing was changed. Check out the default branch and reset it to origin, then start again.',
    );
  }
  if (changed.length)
    throw new CloneRefusal(
      `${root} has uncommitted changes to ${changed.slice(0, 5).join(', ')}${changed.length > 5 ? ` and ${changed.length - 5} more` : ''}: ` +
        'the product plans what was merged, so it does not fast-forward over them. Commit or stash them (git stash), then start again.',
    );
  const diff = await git(root, ['diff', '--name-only', head, sha]);
  const files = diff.stdout.split('\n').filter(Boolean);
  if (dryRun) return { state: 'behind', root, head, commit: sha, files };
  const merged = await git(root, ['merge', '--ff-only', '--quiet', sha]);
  if (merged.exitCode !== 0)
    throw new CloneRefusal(`git merge --ff-only ${short(sha)} in ${root} failed: ${merged.stderr.trim()}`);
  return { state: 'moved', root, from: head, to: sha, files };
}

/** Whether files changed under the Terraform root call for `terraform init` (modules, providers, backend). */
export function needsInit(state: CloneState, terraformDir: string): boolean {
  const files = state.state === 'moved' || state.state === 'behind' ? state.files : [];
  const under = relative(state.root, terraformDir);
  return files.some(
    (f) =>
      (under === '' || f.startsWith(`${under}/`)) &&
      (/\.tf(\.json)?$/.test(f) || f.endsWith('.terraform.lock.hcl')),
  );
}

/** One line for pre-flight and the approver. */
export function describeClone(state: CloneState, initialised: boolean): string {
  switch (state.state) {
    case 'not-git':
      return `${state.root} is no Git clone: Terraform plans with the files on disk`;
    case 'at':
      return `the clone ${state.root} holds the merge (HEAD ${short(state.head)})`;
    case 'behind':
      if (state.note)
        return (
          `the clone ${state.root} is at ${short(state.head)}; ${short(state.commit)} is ${state.note === 'not on origin' ? 'not on its origin' : 'not after it'}: ` +
          "if it is a pull request's head, its merge commit is what a run brings the clone to; this dry run planned the files on disk"
        );
      return (
        `the clone ${state.root} is at ${short(state.head)}, behind the merge ${short(state.commit)} ` +
        `(${state.files.length} files differ): the run fast-forwards it before any Terraform run; this dry run planned the files on disk`
      );
    case 'moved':
      return (
        `the clone ${state.root} fast-forwarded ${short(state.from)} → ${short(state.to)} (${state.files.length} files)` +
        (initialised ? ', terraform init run' : '')
      );
  }
}
