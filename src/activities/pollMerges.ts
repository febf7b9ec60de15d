import { Context, log } from '@temporalio/activity';
import { recordDeliveries } from '../starter/enqueue.js';
import type { DeliveredMerge } from '../workflows/types.js';
import type { ClusterHandle } from './deps.js';
import { nonRetryable, retryable } from './errors.js';
import { FileSourceError, NoSuchBranchError, type FileSource } from './repositorySource.js';

/** What one poll of a cluster's default branch saw: the next poll starts from `head`. */
export interface PollResult {
  head: string;
  /**
   * The merges that changed the versions file, handed to the cluster's queue (their commits); the
   * queue ignores one it already has from the webhook.
   */
  recorded: string[];
  /** Why a poll listed nothing before the head although the branch moved (rewritten, or too far behind). */
  note?: string;
}

/**
 * The poll trigger (`repository.poll`): reads the cluster's default branch and records in its queue
 * every first-parent commit since the last poll that changed the versions file, as the webhook records
 * a merge. The queue dedupes by the merge commit, so a merge both the webhook and the poll saw is one
 * run, and the queue's own reading decides whether it moved a version. The first poll only notes the
 * head: merges before the trigger was turned on are not replayed.
 */
export function pollActivities(
  deps: { repositorySource?: FileSource },
  cluster: (name: string) => ClusterHandle,
) {
  async function pollMerges(input: { cluster: string; since?: string }): Promise<PollResult> {
    const { inventory } = cluster(input.cluster);
    const source = deps.repositorySource;
    const repo = inventory.repository;
    if (!source || !repo)
      throw nonRetryable(
        'ValidationFailed',
        !repo
          ? `the inventory of ${input.cluster} names no repository (repository.github): nothing to poll`
          : 'this worker has no repository source: set TALOS_UPGRADE_SOURCE (github or git) in its environment',
      );
    const file = inventory.versions.file;
    const outage = (error: unknown) => {
      if (error instanceof NoSuchBranchError)
        throw nonRetryable(
          'ValidationFailed',
          `${error.message}: set repository.defaultBranch in the inventory to the branch merges land on`,
        );
      if (error instanceof FileSourceError) throw retryable('SourceUnavailable', error.message);
      throw error;
    };
    // A slow clone or a long walk of GitHub's commits must not look like a dead worker.
    const beat = setInterval(() => Context.current().heartbeat({ reading: repo.defaultBranch }), 10_000);
    const history = await source
      .history(repo.github, repo.defaultBranch, input.since)
      .catch(outage)
      .finally(() => clearInterval(beat));
    const merges: DeliveredMerge[] = [];
    for (const commit of history.commits) {
      Context.current().heartbeat({ reading: commit.sha.slice(0, 12) });
      const [before, after] = await Promise.all([
        source.read(repo.github, file, commit.parent),
        source.read(repo.github, file, commit.sha),
      ]).catch(outage);
      if (before === after) continue;
      merges.push({
        requestId: commit.sha,
        cluster: input.cluster,
        delivery: { repository: repo.github, before: commit.parent, after: commit.sha, event: 'poll' },
        source: `${commit.subject || 'a commit'} (${commit.sha.slice(0, 12)} on ${repo.defaultBranch}, found by polling)`,
      });
    }
    if (merges.length > 0) {
      const { client, info } = Context.current();
      await recordDeliveries(client, info.taskQueue, input.cluster, merges);
    }
    const note = history.rewritten
      ? `${repo.defaultBranch} was rewritten since ${input.since?.slice(0, 12)}: polling goes on from its head`
      : history.truncated
        ? `more commits than one poll lists came since ${input.since?.slice(0, 12)}: the oldest were not read`
        : undefined;
    if (note) log.warn(note, { cluster: input.cluster });
    return { head: history.head, recorded: merges.map((m) => m.requestId), ...(note ? { note } : {}) };
  }
  return { pollMerges };
}
