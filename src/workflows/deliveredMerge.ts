import { log } from '@temporalio/workflow';
import type { VersionReading } from '../activities/index.js';
import { ingest, notifications } from './activityOptions.js';
import { describeFailure, wasCancelled } from './failures.js';
import { isDeliveredMerge, type DeliveredMerge, type QueuedItem, type UpgradeRequest } from './types.js';

/**
 * GitHub sends a pull_request and a push for one merge, in either order and moments apart; both carry
 * the merge commit, so the second is a duplicate. Only the pull request has the labels, so when the
 * push came first and has not become a run yet, the pull request's strategy and source replace its own.
 * A merge the poll found first (repository.poll) takes its pull request's labels the same way.
 */
export function absorbPullRequest(waiting: Array<QueuedItem | undefined>, merge: DeliveredMerge): boolean {
  if (merge.delivery.event !== 'pull_request') return false;
  const push = waiting.find(
    (item): item is DeliveredMerge =>
      item !== undefined &&
      isDeliveredMerge(item) &&
      item.requestId === merge.requestId &&
      item.delivery.event !== 'pull_request',
  );
  if (!push) return false;
  // The push's own before (the commit the branch really moved from) stays; the pull request's base
  // may be older and would bring other merges' changes into the comparison.
  push.delivery = {
    ...push.delivery,
    event: 'pull_request',
    ...(merge.delivery.id ? { id: merge.delivery.id } : {}),
  };
  push.source = merge.source;
  delete push.strategy;
  delete push.strategyNote;
  if (merge.strategy) push.strategy = merge.strategy;
  if (merge.strategyNote) push.strategyNote = merge.strategyNote;
  return true;
}

/** What a merge becomes once its versions file is read: a request, or the outcome that says why not. */
export type MergeReading = { request: UpgradeRequest } | { outcome: string };

/**
 * Reads what the merge changed (retried through a repository outage) and makes it the request the
 * run gets. A versions file that cannot be parsed is told to the cluster's notification targets: the
 * webhook answered 202 long ago, so nobody else would hear of it.
 */
export async function readDeliveredMerge(cluster: string, merge: DeliveredMerge): Promise<MergeReading> {
  const { repository, before, after } = merge.delivery;
  let reading;
  try {
    reading = await ingest.readVersionChange({ cluster, repository, before, after });
  } catch (error) {
    // A cancelled queue leaves its merges alone: they are not invalid, only not read.
    if (wasCancelled(error)) throw error;
    const reason = describeFailure(error);
    log.warn('a delivered merge could not be read', { requestId: merge.requestId, reason });
    await notifications
      .notify({
        cluster,
        event: {
          kind: 'critical',
          message: `${merge.source} (${after.slice(0, 12)}) was not turned into an upgrade: ${reason}. Fix the file and merge again, or start the upgrade with talos-upgrade start.`,
        },
      })
      .catch(() => undefined);
    return { outcome: `invalid: ${reason}` };
  }
  if (reading.kind === 'nothing') return { outcome: `nothing-to-do: ${reading.reason}` };
  return {
    request: requestOfReading(reading, {
      requestId: merge.requestId,
      cluster,
      source: merge.source,
      commit: after,
      // Read now, not when the merge was recorded: a pull request's labels may have come since.
      ...(merge.strategy ? { strategy: merge.strategy } : {}),
      ...(merge.strategyNote ? { strategyNote: merge.strategyNote } : {}),
    }),
  };
}

/** The request a reading of the versions file makes: the Talos target (the file's when only Kubernetes moved). */
export function requestOfReading(
  reading: Extract<VersionReading, { kind: 'upgrade' }>,
  base: Pick<UpgradeRequest, 'requestId' | 'cluster' | 'source' | 'strategy' | 'strategyNote' | 'commit'>,
): UpgradeRequest {
  return {
    ...base,
    talos: {
      ...(reading.talos ? { from: reading.talos.from } : {}),
      to: reading.talos?.to ?? reading.talosAfter ?? '',
    },
    ...(reading.kubernetes ? { kubernetes: reading.kubernetes } : {}),
  };
}
