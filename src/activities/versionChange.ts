import { diffTerraformVersions, type VersionChange } from '../domain/index.js';
import type { ClusterHandle } from './deps.js';
import { nonRetryable, retryable } from './errors.js';
import { FileSourceError, type FileSource } from './repositorySource.js';

/** What a merge did to a cluster's versions file, as read at both commits. */
export type VersionReading =
  | {
      kind: 'upgrade';
      talos?: VersionChange;
      kubernetes?: VersionChange;
      /** The Talos version after the merge: the target when only Kubernetes moved. */
      talosAfter?: string;
    }
  | { kind: 'nothing'; reason: string };

/**
 * The reading of a delivered merge, moved out of the webhook's request: the webhook records the
 * delivery at once and the cluster's queue runs this with retries, so a GitHub or git outage delays
 * the upgrade instead of losing the merge.
 */
export function versionChangeActivities(
  deps: { repositorySource?: FileSource },
  cluster: (name: string) => ClusterHandle,
) {
  async function readVersionChange(input: {
    cluster: string;
    repository: string;
    before: string;
    after: string;
  }): Promise<VersionReading> {
    const { inventory } = cluster(input.cluster);
    const source = deps.repositorySource;
    if (!source)
      throw nonRetryable(
        'ValidationFailed',
        'this worker has no repository source: set TALOS_UPGRADE_SOURCE (github or git) in its environment',
      );
    const file = inventory.versions.file;
    const read = async (ref: string) => {
      try {
        return await source.read(input.repository, file, ref);
      } catch (error) {
        // Retried by Temporal with backoff; the message shows as the activity's last failure in the UI.
        if (error instanceof FileSourceError) throw retryable('SourceUnavailable', error.message);
        throw error;
      }
    };
    const before = await read(input.before);
    const after = await read(input.after);
    if (before === undefined || after === undefined)
      return {
        kind: 'nothing',
        reason: `${file} not found in ${input.repository} at ${(before === undefined ? input.before : input.after).slice(0, 12)}`,
      };
    let diff: ReturnType<typeof diffTerraformVersions>;
    try {
      diff = diffTerraformVersions(before, after, inventory.versions);
    } catch (error) {
      throw nonRetryable(
        'InvalidVersionsFile',
        `${file} at ${input.after.slice(0, 12)}: ${(error as Error).message}`,
      );
    }
    if (diff.kind === 'nothing') return diff;
    return {
      kind: 'upgrade',
      ...(diff.talos ? { talos: diff.talos } : {}),
      ...(diff.kubernetes ? { kubernetes: diff.kubernetes } : {}),
      ...(diff.after.talosVersion ? { talosAfter: diff.after.talosVersion } : {}),
    };
  }

  /**
   * What one commit of the cluster's repository changed against its first parent (a merge commit, or
   * the head of a pull request's branch before it is merged): the reading a dry run of that merge
   * plans from. The commit is named as a user types it (a short sha or a branch) and resolved here.
   */
  async function readCommitChange(input: {
    cluster: string;
    commit: string;
  }): Promise<VersionReading & { commit: string; repository: string }> {
    const { inventory } = cluster(input.cluster);
    const repository = inventory.repository?.github;
    const source = deps.repositorySource;
    if (!repository || !source)
      throw nonRetryable(
        'ValidationFailed',
        !repository
          ? `the inventory of ${input.cluster} names no repository (repository.github): there is no merge to read`
          : 'this worker has no repository source: set TALOS_UPGRADE_SOURCE (github or git) in its environment',
      );
    let found: Awaited<ReturnType<FileSource['commit']>>;
    try {
      found = await source.commit(repository, input.commit);
    } catch (error) {
      if (error instanceof FileSourceError) throw retryable('SourceUnavailable', error.message);
      throw error;
    }
    if (!found)
      throw nonRetryable(
        'ValidationFailed',
        `${repository} has no commit ${input.commit} (fetched just now)`,
      );
    if (!found.parent)
      return {
        kind: 'nothing',
        reason: `${found.sha.slice(0, 12)} is a root commit: it changed nothing`,
        commit: found.sha,
        repository,
      };
    const reading = await readVersionChange({
      cluster: input.cluster,
      repository,
      before: found.parent,
      after: found.sha,
    });
    return { ...reading, commit: found.sha, repository };
  }

  return { readVersionChange, readCommitChange };
}
