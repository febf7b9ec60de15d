import type { DeliveredMerge } from '../../workflows/types.js';

type Ids = { queueId: string; runId: string };
type Send = (cluster: string, merges: DeliveredMerge[]) => Promise<{ queueId: string }>;

interface Waiting {
  merges: DeliveredMerge[];
  answers: Array<{ resolve: (ids: Ids) => void; reject: (error: unknown) => void }>;
}

/**
 * Group commit of deliveries into their cluster's queue. Every signal to one workflow is written one
 * after another by Temporal, so under a burst (GitHub redelivering, several merges at once) each
 * delivery would wait for all before it. Instead, while one signal to a cluster's queue is in flight,
 * the deliveries that arrive meanwhile wait together and go in the next signal: a delivery waits for
 * at most the one in flight and its own, and each is durable before its caller answers 202.
 */
export function deliveryRecorder(send: Send, runId: (merge: DeliveredMerge) => string) {
  const waiting = new Map<string, Waiting>();
  const sending = new Set<string>();

  /** Sends what waits for the cluster, batch after batch, until nothing waits. */
  async function drain(cluster: string): Promise<void> {
    sending.add(cluster);
    for (let batch = waiting.get(cluster); batch; batch = waiting.get(cluster)) {
      waiting.delete(cluster);
      try {
        const { queueId } = await send(cluster, batch.merges);
        const sent = batch;
        sent.merges.forEach((merge, i) => sent.answers[i]?.resolve({ queueId, runId: runId(merge) }));
      } catch (error) {
        batch.answers.forEach((answer) => answer.reject(error));
      }
    }
    sending.delete(cluster);
  }

  return (merge: DeliveredMerge): Promise<Ids> =>
    new Promise<Ids>((resolve, reject) => {
      const batch = waiting.get(merge.cluster) ?? { merges: [], answers: [] };
      batch.merges.push(merge);
      batch.answers.push({ resolve, reject });
      waiting.set(merge.cluster, batch);
      if (!sending.has(merge.cluster)) void drain(merge.cluster);
    });
}
