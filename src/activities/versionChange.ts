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

  return { readVersionChange };
}
