import { AsyncLocalStorage } from 'node:async_hooks';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { withoutCredentials } from './repositorySource.js';
import { runCommand, type CommandResult } from './runCommand.js';
import type { SharedControl } from './workspaceQueue.js';

/**
 * Where the worker's clone of the user's repository stands against the commit a run acts on. The
 * worker plans and applies Terraform, and reads machine configs and patches, from that clone: a clone
 * left at an older commit would rebuild a node from an older root (another module, schematic or VM
 * size) than the one the pull request was reviewed against.
 */
export type CloneState =
  /** The Terraform root is no Git work tree: the product plans with what is on disk. */
  | { state: 'not-git'; root: string }
  /** HEAD holds the commit (at it, or after it on origin's history). */
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

/** The clone's remote could not be read (network, credentials), or git is busy in it: worth another try. */
export class CloneFetchError extends Error {}

// No prompt for credentials (a worker has no terminal; a credential helper or an SSH key still
// answers), no pager, no editor.
// Git's messages in English whatever the worker's locale: some of them are matched below.
const GIT_ENV = {
  GIT_TERMINAL_PROMPT: '0',
  GIT_ASKPASS: 'true',
  GIT_PAGER: 'cat',
  GIT_EDITOR: 'true',
  LC_ALL: 'C',
  LANGUAGE: 'C',
};

/**
 * The workspace turn a move runs in (WorkspaceQueue): its git commands beat and stop through the
 * turn's control, since a turn may run from another activity's async context.
 */
const turn = new AsyncLocalStorage<SharedControl>();

// The heartbeat says the step, never git's output (an error may quote a URL with its credentials).
const git = (root: string, args: string[], timeoutMs = 60_000) => {
  const shared = turn.getStore();
  return runCommand('git', ['-C', root, ...args], {
    env: GIT_ENV,
    timeoutMs,
    input: '',
    progress: () => ({ step: `git ${args[0] ?? ''} in ${root}` }),
    ...(shared ? { shared } : {}),
  });
};

const short = (sha: string) => sha.slice(0, 12);

/** What git said, fit to show: its lines without credentials, at most three. */
const said = (result: CommandResult) =>
  withoutCredentials(result.stderr.trim()).split('\n').slice(-3).join(' / ') || `exit ${result.exitCode}`;

/** Another git process holds the clone's index: it ends by itself. */
const busy = (result: CommandResult) => /index\.lock|Unable to create .*\.lock/.test(result.stderr);

/** A git step that must succeed; a lock held by another git is worth a retry, the rest needs a person. */
async function must(root: string, args: string[], what: string, timeoutMs?: number): Promise<string> {
  const result = await git(root, args, timeoutMs);
  if (result.exitCode === 0) return result.stdout;
  if (busy(result))
    throw new CloneFetchError(`${what} in ${root}: another git process is at work (${said(result)})`);
  throw new CloneRefusal(`${what} in ${root} failed: ${said(result)}`);
}

/** Whether `a` is an ancestor of `b`; git's own errors (exit 128) are said, not taken for "no". */
async function isAncestor(root: string, a: string, b: string): Promise<boolean> {
  const result = await git(root, ['merge-base', '--is-ancestor', a, b]);
  if (result.exitCode === 0 || result.exitCode === 1) return result.exitCode === 0;
  throw new CloneRefusal(`git merge-base in ${root} failed: ${said(result)}`);
}

/** The commit as a whole sha, when the clone has it. */
async function resolved(root: string, commit: string): Promise<string | undefined> {
  const result = await git(root, ['rev-parse', '--verify', '--quiet', `${commit}^{commit}`]);
  return result.exitCode === 0 ? result.stdout.trim() : undefined;
}

async function hasOrigin(root: string): Promise<boolean> {
  return (await must(root, ['remote'], 'git remote')).split('\n').includes('origin');
}

/** Fetches origin: a commit merged on GitHub after the clone was last pulled, and origin's branches. */
async function fetchOrigin(root: string): Promise<void> {
  const fetched = await git(root, ['fetch', '--quiet', 'origin'], 180_000);
  if (fetched.exitCode !== 0)
    throw new CloneFetchError(
      `git fetch origin in ${root} failed: ${said(fetched)}. Give the worker's user read access to origin as for git pull ` +
        '(an SSH deploy key, or a credential helper)',
    );
}

/**
 * The commit in the clone, fetched from origin when it is not there yet. A dry run's commit that is
 * still not there is undefined (a fork's pull request head); a run's is refused.
 */
async function commitInClone(root: string, commit: string, dryRun: boolean): Promise<string | undefined> {
  const known = await resolved(root, commit);
  if (known) return known;
  if (!(await hasOrigin(root))) {
    if (dryRun) return undefined;
    throw new CloneRefusal(
      `${root} does not have commit ${short(commit)} and no remote "origin" to fetch it from: ` +
        'pull the merge into the clone the worker plans from (or add origin), then start the run again',
    );
  }
  await fetchOrigin(root);
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
  // Submodules are left out: the update below puts them where HEAD records them.
  const status = await must(
    root,
    ['status', '--porcelain', '--untracked-files=no', '--ignore-submodules=all'],
    'git status',
  );
  return (
    status
      .split('\n')
      .filter(Boolean)
      .map((line) => line.slice(3))
      // terraform init may add this platform's hashes to the lock file: the worker's own doing, not the user's.
      .filter((file) => !file.endsWith('.terraform.lock.hcl'))
  );
}

function refuseChanges(root: string, changed: string[]): void {
  if (changed.length)
    throw new CloneRefusal(
      `${root} has uncommitted changes to ${changed.slice(0, 5).join(', ')}${changed.length > 5 ? ` and ${changed.length - 5} more` : ''}: ` +
        'the product plans what was merged, so it does not plan or fast-forward over them. Commit or stash them (git stash), then start again.',
    );
}

/** HEAD is on origin's history (fetched when it seems not to be): no commit of its own rides along. */
async function refuseLocalCommits(root: string, head: string): Promise<void> {
  if (!(await hasOrigin(root))) return;
  const onOrigin = async () =>
    (
      await must(
        root,
        ['for-each-ref', '--contains', head, '--format=%(refname)', 'refs/remotes/origin'],
        'git for-each-ref',
      )
    ).trim() !== '';
  if ((await onOrigin()) || (await fetchOrigin(root).then(onOrigin))) return;
  throw new CloneRefusal(
    `${root} is at ${short(head)}, a commit origin does not have (a local commit after the merge): the product plans ` +
      'what was merged and reviewed. Push it, or reset the branch to origin (git reset --hard origin/<branch>), then start again.',
  );
}

/**
 * The Git work tree that holds `dir`; undefined only when `dir` is in none. Anything else git refuses
 * (a clone owned by another user: "dubious ownership") is said, not taken for "no clone".
 */
async function workTreeOf(dir: string): Promise<string | undefined> {
  const result = await git(dir, ['rev-parse', '--show-toplevel']);
  if (result.exitCode === 0) return result.stdout.trim();
  // No git at all (exit -1: not found) leaves the root as files on disk, as before the clone sync.
  if (/not a git repository/i.test(result.stderr) || result.exitCode < 0) return undefined;
  throw new CloneRefusal(
    `git cannot read the clone at ${dir}: ${said(result)}` +
      (/dubious ownership/.test(result.stderr)
        ? ". Run the worker as the clone's owner, or trust it: git config --global --add safe.directory <path>"
        : ''),
  );
}

/** The one git in a clone at a time, in this worker: two runs' syncs would race on its index. */
const turns = new Map<string, Promise<unknown>>();
function oneAtATime<T>(root: string, work: () => Promise<T>): Promise<T> {
  const next = (turns.get(root) ?? Promise.resolve()).then(work, work);
  turns.set(
    root,
    next.catch(() => undefined),
  );
  return next;
}

/**
 * Brings the Git work tree that holds `dir` to `commit` by a fast-forward, fetching origin when the
 * commit is not there yet. Refused, with nothing changed, when the clone has diverged from the commit,
 * has commits origin lacks, or has uncommitted changes to tracked files. A dry run moves nothing and
 * refuses only what the run would refuse in any case (uncommitted changes): a pull request's head,
 * not yet merged, may be off the branch or on no remote the clone fetches, and the run acts on its
 * merge commit instead.
 */
export async function bringCloneTo(
  dir: string,
  commit: string,
  dryRun: boolean,
  control?: SharedControl,
): Promise<CloneState> {
  const bring = async (): Promise<CloneState> => {
    const root = await workTreeOf(dir);
    if (!root) return { state: 'not-git', root: dir };
    return oneAtATime(root, () => bringWorkTree(root, commit, dryRun));
  };
  return control ? turn.run(control, bring) : bring();
}

async function bringWorkTree(root: string, commit: string, dryRun: boolean): Promise<CloneState> {
  const headOf = await git(root, ['rev-parse', '--verify', '--quiet', 'HEAD^{commit}']);
  const head = headOf.stdout.trim();
  if (headOf.exitCode !== 0 || !head)
    throw new CloneRefusal(`${root} has no commit checked out: clone the repository there, then start again`);
  refuseChanges(root, await localChanges(root));
  const sha = await commitInClone(root, commit, dryRun);
  if (!sha) return { state: 'behind', root, head, commit, files: [], note: 'not on origin' };
  if (await isAncestor(root, sha, head)) {
    if (head !== sha) await refuseLocalCommits(root, head);
    // Also here: a retry after a move whose submodule update failed finds HEAD at the merge already.
    if (!dryRun) await updateSubmodules(root);
    return { state: 'at', root, head };
  }
  if (!(await isAncestor(root, head, sha))) {
    if (dryRun) return { state: 'behind', root, head, commit: sha, files: [], note: 'off the branch' };
    throw new CloneRefusal(
      `${root} is at ${short(head)}, which is not on the way to the merge ${short(sha)} (local commits, or another ` +
        'branch checked out): nothing was changed. Check out the default branch and reset it to origin, then start again.',
    );
  }
  const files = (await must(root, ['diff', '--name-only', head, sha], 'git diff'))
    .split('\n')
    .filter(Boolean);
  if (dryRun) return { state: 'behind', root, head, commit: sha, files };
  await must(root, ['merge', '--ff-only', '--quiet', sha], `git merge --ff-only ${short(sha)}`);
  await updateSubmodules(root);
  return { state: 'moved', root, from: head, to: sha, files };
}

/**
 * Submodules (a module kept in its own repository) follow HEAD, or Terraform plans their old code. It
 * fetches: a failure is worth a retry (HEAD may have moved already; the retry updates them again).
 */
async function updateSubmodules(root: string): Promise<void> {
  const submodules = await access(join(root, '.gitmodules')).then(
    () => true,
    () => false,
  );
  if (!submodules) return;
  const updated = await git(root, ['submodule', 'update', '--init', '--recursive'], 180_000);
  if (updated.exitCode !== 0)
    throw new CloneFetchError(`git submodule update in ${root} failed: ${said(updated)}`);
}

/**
 * Whether a move calls for `terraform init`: a changed `.tf` file or lock file anywhere in the clone
 * (a local module outside the root can add providers or modules too).
 */
export function needsInit(state: CloneState): boolean {
  const files = state.state === 'moved' ? state.files : [];
  return files.some(
    (f) => /\.tf(\.json)?$/.test(f) || f.endsWith('.terraform.lock.hcl') || f === '.gitmodules',
  );
}

/** One line for pre-flight and the approver. */
export function describeClone(state: CloneState, initialised: boolean): string {
  switch (state.state) {
    case 'not-git':
      return `${state.root} is no Git clone: Terraform plans with the files on disk`;
    case 'at':
      return (
        `the clone ${state.root} holds the merge (HEAD ${short(state.head)})` +
        (initialised ? ', terraform init run' : '')
      );
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
