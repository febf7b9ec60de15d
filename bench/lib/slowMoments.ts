/** One answer as a benchmark's sender timed it. */
export interface TimedAnswer {
  /** When it was sent (performance.now() of the sender's process). */
  sentAt: number;
  ms: number;
  /** Whether answering it wrote to Temporal (a ping or a forged signature writes nothing). */
  writes: boolean;
}

export interface SlowMoments {
  thresholdMs: number;
  /** Answers slower than the threshold. */
  answers: number;
  /** Those answers grouped by overlap: answers waiting at the same time count as one moment. */
  moments: number;
  /** Moments that held an answer which wrote nothing: the process or the machine paused, not a write. */
  withoutWrite: number;
}

/**
 * Groups the slow answers of a run into the moments they waited through. A tail made of a few
 * moments, each holding answers of every kind (pings too, which never reach Temporal), is the
 * machine pausing its processes (a garbage collection, the scheduler giving the cores to another
 * process); a tail of lone recorded deliveries would be the write path itself.
 */
export function slowMoments(answers: TimedAnswer[], thresholdMs: number): SlowMoments {
  const slow = answers.filter((a) => a.ms > thresholdMs).sort((a, b) => a.sentAt - b.sentAt);
  let moments = 0;
  let withoutWrite = 0;
  let end = -Infinity;
  let writesOnly = true;
  for (const answer of slow) {
    if (answer.sentAt > end) {
      if (moments > 0 && !writesOnly) withoutWrite++;
      moments++;
      writesOnly = true;
    }
    end = Math.max(end, answer.sentAt + answer.ms);
    writesOnly &&= answer.writes;
  }
  if (moments > 0 && !writesOnly) withoutWrite++;
  return { thresholdMs, answers: slow.length, moments, withoutWrite };
}
