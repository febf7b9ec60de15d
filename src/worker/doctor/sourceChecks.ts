import type { ActivityDeps, ClusterAccess } from '../../activities/index.js';
import type { createActivities } from '../../activities/index.js';
import { NoSuchBranchError } from '../../activities/repositorySource.js';
import { compareVersions, minorOf, ReleaseList, releasesOf } from '../../domain/index.js';
import type { CheckResult } from './clusterChecks.js';

type Report = (result: CheckResult) => void;
type Activities = ReturnType<typeof createActivities>;

/** The fix of an installer check whose registry did not answer (any failure but ImageMissing). */
export const REGISTRY_UNANSWERED =
  "the registry did not answer: check that this machine reaches the installer's registry (proxy, DNS, a mirror in images.installer), then run doctor again";

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * What the next runs need from outside, before a merge asks for them: the release list a run plans a
 * jump over minors with (the inventory's, or Talos's releases as the worker reads them), and the
 * installers of the releases Renovate would propose next — the newest patch of the running minor and
 * of the minor after it — for every schematic the nodes run.
 */
export async function releaseChecks(
  name: string,
  access: ClusterAccess,
  activities: Activities,
  running: string | undefined,
  report: Report,
) {
  const inventoryList = releasesOf(access.inventory);
  const list = inventoryList
    ? inventoryList
    : await activities
        .fetchTalosReleases()
        .then((versions) => new ReleaseList(versions))
        .catch((error: unknown) => error as Error);
  // A list without a release of the minor the nodes run is stale or cut short: plans would skip it.
  const minor = running ? minorOf(running) : undefined;
  // Only the inventory's own list: GitHub's lists every release, and a node may run a pre-release.
  const ownMinor =
    list instanceof Error || !minor || !inventoryList
      ? true
      : list.versions.some((v) => minorOf(v) === minor);
  report({
    cluster: name,
    check: 'release list',
    ok: !(list instanceof Error) && ownMinor,
    detail:
      list instanceof Error
        ? list.message
        : `${list.versions.length} Talos releases ${inventoryList ? 'in versions.releases' : 'read'} (newest ${list.versions.at(-1) ?? 'none'})` +
          (ownMinor ? '' : `, none of them a ${minor}.x release although the nodes run ${running}`),
    ...(list instanceof Error
      ? {
          fix: "let the worker reach github.com's API (TALOS_UPGRADE_RELEASES_API_URL for a mirror; GITHUB_TOKEN against its rate limit), or set versions.releases in the inventory or TALOS_UPGRADE_RELEASES_URL",
        }
      : ownMinor
        ? {}
        : {
            fix: 'bring the list up to date: versions.releases in the inventory must hold every release from the running one on',
          }),
  });
  if (list instanceof Error || !running || !minor) return;
  const nextMinor = list.versions.find((v) => compareVersions(minorOf(v) + '.0', minor + '.0') > 0);
  const next = [
    list.latestPatchOf(minor),
    ...(nextMinor ? [list.latestPatchOf(minorOf(nextMinor))] : []),
  ].filter((v): v is string => !!v && compareVersions(v, running) > 0);
  if (next.length === 0) return;
  const missing: string[] = [];
  const unanswered: string[] = [];
  for (const version of next)
    await activities.checkInstallerImages({ cluster: name, version }).catch((error: unknown) =>
      // ImageMissing is the registry's answer; anything else is a registry that did not answer.
      ((error as { type?: string }).type === 'ImageMissing' ? missing : unanswered).push(
        `${version}: ${message(error)}`,
      ),
    );
  const problems = [...missing, ...unanswered];
  report({
    cluster: name,
    check: 'next installers',
    ok: problems.length === 0,
    detail: problems.length
      ? problems.join('; ')
      : `the installers of Talos ${next.join(' and ')} exist for every schematic (the next patch and minor)`,
    ...(missing.length
      ? {
          fix: 'check images.installer and each schematic (a custom one must be known to the Image Factory or your registry mirror)',
        }
      : unanswered.length
        ? {
            fix: REGISTRY_UNANSWERED,
          }
        : {}),
  });
}

/**
 * The repository a merge is read from (repository.github), as the worker reads it: its default branch
 * through TALOS_UPGRADE_SOURCE, and the versions file at its head.
 */
export async function repositoryCheck(
  name: string,
  access: ClusterAccess,
  deps: ActivityDeps,
  report: Report,
) {
  const repo = access.inventory.repository;
  const source = deps.repositorySource;
  if (!repo || !source) return;
  const file = access.inventory.versions.file;
  const where = `${repo.github}@${repo.defaultBranch}`;
  const fail = (detail: string, fix: string) =>
    report({ cluster: name, check: 'repository', ok: false, detail, fix });
  let head: { sha: string };
  try {
    // The poll's own read of the branch: its head (a tag or a sha of that name is no branch).
    head = { sha: (await source.history(repo.github, repo.defaultBranch)).head };
  } catch (error) {
    return fail(
      `${where} through ${source.describe}: ${message(error)}`,
      error instanceof NoSuchBranchError
        ? 'set repository.defaultBranch to the branch merges land on'
        : 'give the worker read access: GITHUB_TOKEN (contents: read) for TALOS_UPGRADE_SOURCE=github, or a clone URL it can fetch (TALOS_UPGRADE_GIT_URL) for git',
    );
  }
  const text = await source.read(repo.github, file, head.sha).catch((error: unknown) => error as Error);
  if (text instanceof Error)
    return fail(`${where}: ${text.message}`, 'give the worker read access to the repository contents');
  if (text === undefined)
    return fail(
      `${where} (${head.sha.slice(0, 12)}) has no ${file}`,
      'set versions.file to the file Renovate bumps',
    );
  report({
    cluster: name,
    check: 'repository',
    ok: true,
    detail: `${where} (${head.sha.slice(0, 12)}) read through ${source.describe}: ${file} is there`,
  });
}
