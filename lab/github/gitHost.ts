import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { execa } from 'execa';

/**
 * GitHub as Git reaches it, in the lab: a folder of repositories, `<dir>/<owner>/<name>.git`, each a
 * work tree where tests merge pull requests as GitHub's merge button does. No internet reaches GitHub
 * here, so the user's clone keeps the origin a clone of GitHub has (https://github.com/owner/name.git)
 * and Git's own URL rewriting (`url.<folder>/.insteadOf https://github.com/`, in the clone's config)
 * sends its fetches to the folder. Whatever reads the clone's origin reads what a user's clone says.
 */
export const labGitHubDir = (labDir: string) => join(labDir, 'github');

/** The clone-URL template that reaches a repository of the lab's GitHub ({repo} = owner/name). */
export const labGitHubUrlTemplate = (labDir: string) => join(labGitHubDir(labDir), '{repo}.git');

/** What a Terraform repository keeps out of Git: Terraform's cache and local state. */
export const LAB_GITIGNORE = '.terraform/\n*.tfstate\n*.tfstate.*\n.terraform.lock.hcl\n';

const git = (dir: string, args: string[]) =>
  execa('git', ['-C', dir, '-c', 'user.name=lab', '-c', 'user.email=lab@example.invalid', ...args]);

/**
 * Puts the user's repository `clone` on the lab's GitHub as `repository` (owner/name), as a user who
 * pushed it and cloned it back has it: its work committed (a first commit when it has none), the
 * GitHub copy made from it, and the clone's origin, origin/HEAD and upstream set as `git clone`
 * sets them. Returns the GitHub copy's work tree, where a test merges.
 */
export async function publishOnLabGitHub(labDir: string, clone: string, repository: string): Promise<string> {
  const hosted = labGitHubUrlTemplate(labDir).replace('{repo}', repository);
  const hasCommit = (await git(clone, ['rev-parse', '--verify', '--quiet', 'HEAD']).catch(() => undefined))
    ?.stdout;
  if (!hasCommit) {
    const ignore = join(clone, '.gitignore');
    if (
      !(await access(ignore).then(
        () => true,
        () => false,
      ))
    )
      await writeFile(ignore, LAB_GITIGNORE);
    await git(clone, ['add', '-A']);
    await git(clone, ['commit', '--quiet', '--allow-empty', '-m', 'the cluster as deployed']);
  }
  const branch = (await git(clone, ['symbolic-ref', '--short', 'HEAD'])).stdout.trim();
  await mkdir(dirname(hosted), { recursive: true });
  await execa('git', ['clone', '--quiet', '--no-local', clone, hosted]);
  await git(hosted, ['remote', 'remove', 'origin']);
  const remotes = (await git(clone, ['remote'])).stdout.split('\n');
  if (remotes.includes('origin')) await git(clone, ['remote', 'remove', 'origin']);
  await git(clone, ['remote', 'add', 'origin', `https://github.com/${repository}.git`]);
  await git(clone, ['config', `url.${labGitHubDir(labDir)}/.insteadOf`, 'https://github.com/']);
  await git(clone, ['fetch', '--quiet', 'origin']);
  await git(clone, ['remote', 'set-head', 'origin', '--auto']);
  await git(clone, ['branch', '--quiet', '--set-upstream-to', `origin/${branch}`]);
  return hosted;
}

/**
 * A pull request merged on the lab's GitHub with a merge commit, as GitHub's merge button makes it:
 * its change (path in the repository → new text from the old, or a function that edits the work tree)
 * committed on `branch`, merged into the branch checked out, and the branch deleted (Renovate opens
 * the next update of a package on the same name). Returns the base and the merge commit.
 */
export async function mergePullRequest(
  hosted: string,
  pullRequest: { number: number; branch: string; title: string },
  change: Record<string, (text: string) => string> | ((workTree: string) => Promise<void>),
): Promise<{ base: string; merge: string }> {
  const target = (await git(hosted, ['symbolic-ref', '--short', 'HEAD'])).stdout.trim();
  const base = (await git(hosted, ['rev-parse', 'HEAD'])).stdout.trim();
  await git(hosted, ['checkout', '--quiet', '-B', pullRequest.branch]);
  try {
    if (typeof change === 'function') await change(hosted);
    else
      for (const [path, edit] of Object.entries(change)) {
        const file = join(hosted, path);
        const before = await readFile(file, 'utf8');
        const after = edit(before);
        if (after === before) throw new Error(`the pull request changes nothing in ${path}`);
        await writeFile(file, after);
      }
    await git(hosted, ['commit', '--quiet', '-am', pullRequest.title]);
  } catch (error) {
    // A pull request that could not be made leaves the hosted repository on its branch, as it was.
    await git(hosted, ['checkout', '--quiet', '--force', target]);
    await git(hosted, ['branch', '--quiet', '-D', pullRequest.branch]);
    throw error;
  }
  await git(hosted, ['checkout', '--quiet', target]);
  await git(hosted, [
    'merge',
    '--quiet',
    '--no-ff',
    pullRequest.branch,
    '-m',
    `Merge pull request #${pullRequest.number} from ${pullRequest.branch}`,
  ]);
  await git(hosted, ['branch', '--quiet', '-D', pullRequest.branch]);
  return { base, merge: (await git(hosted, ['rev-parse', 'HEAD'])).stdout.trim() };
}
