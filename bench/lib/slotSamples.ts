/**
 * How many of a worker's task slots were in use through a run, sampled from its Prometheus endpoint.
 * The fleet's workflow tasks once waited for slots held by health gates (bench/HISTORY.md, Fleet at
 * 100): the bench shows the slots in use beside the timeouts they caused, rather than leaving it to a
 * hand-run scrape.
 */

/** The worker's slot kinds, as the SDK's `worker_type` label names them. */
export const SLOT_KINDS = ['WorkflowWorker', 'ActivityWorker', 'LocalActivityWorker'] as const;
export type SlotKind = (typeof SLOT_KINDS)[number];

type Gauge = 'used' | 'available';

/**
 * One scrape: each kind's slots in use and free (summed over task queues; a kind absent counts 0), and
 * whether it held any slot gauge (an error page or a worker not polling yet holds none).
 */
export type SlotScrape = Record<Gauge, Record<SlotKind, number>> & { gauges: number };

/** The SDK's gauges, `temporal_worker_task_slots_used{…worker_type="…"…} 3`, one per queue and kind. */
const SLOT_GAUGE = /^temporal_worker_task_slots_(used|available)\{([^}]*)\}\s+(\S+)/;

export function slotScrape(metrics: string): SlotScrape {
  const none = (): Record<SlotKind, number> => ({
    WorkflowWorker: 0,
    ActivityWorker: 0,
    LocalActivityWorker: 0,
  });
  const scrape: SlotScrape = { used: none(), available: none(), gauges: 0 };
  for (const line of metrics.split('\n')) {
    const match = SLOT_GAUGE.exec(line);
    if (!match) continue;
    const kind = /worker_type="([^"]*)"/.exec(match[2] ?? '')?.[1];
    if (kind && (SLOT_KINDS as readonly string[]).includes(kind)) {
      scrape[match[1] as Gauge][kind as SlotKind] += Number(match[3]) || 0;
      scrape.gauges++;
    }
  }
  return scrape;
}

/** Slots in use through a run: the median and the largest sample, of how many the worker had. */
export interface SlotUse {
  median: number;
  max: number;
  slots: number;
}

/** The value seen most often (the larger of a tie), 0 in an empty list. */
function mostOften(values: number[]): number {
  const seen = new Map<number, number>();
  for (const v of values) seen.set(v, (seen.get(v) ?? 0) + 1);
  let best = 0;
  let bestCount = 0;
  for (const [v, count] of seen)
    if (count > bestCount || (count === bestCount && v > best)) [best, bestCount] = [v, count];
  return best;
}

/**
 * One kind's use over the scrapes (all 0 without any). The worker's number of slots is the sum of the
 * two gauges seen most often: sdk-core writes them apart, from counts read at different moments, so
 * one scrape's sum can be off by one.
 */
export function slotUse(scrapes: SlotScrape[], kind: SlotKind): SlotUse {
  const sorted = scrapes.map((s) => s.used[kind]).sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
  const slots = mostOften(scrapes.map((s) => s.used[kind] + s.available[kind]));
  return { median, max: sorted.at(-1) ?? 0, slots };
}

export interface SlotSamples {
  /** Scrapes that answered. */
  samples: number;
  workflowTasks: SlotUse;
  activities: SlotUse;
  localActivities: SlotUse;
}

/**
 * Scrapes `url` every `everyMs` until `stop`, which answers the slots in use of each kind and how
 * many scrapes answered. A scrape that fails (the worker busy past the interval, an error status) or
 * holds no slot gauge is skipped: the figure is a sample, not a count.
 */
export function sampleSlots(url: string, everyMs: number): { stop(): SlotSamples } {
  const scrapes: SlotScrape[] = [];
  let pending = false;
  const timer = setInterval(() => {
    if (pending) return;
    pending = true;
    fetch(url, { signal: AbortSignal.timeout(everyMs) })
      .then(async (response) => {
        if (!response.ok) return;
        const scrape = slotScrape(await response.text());
        if (scrape.gauges > 0) scrapes.push(scrape);
      })
      .catch(() => undefined)
      .finally(() => (pending = false));
  }, everyMs);
  timer.unref();
  return {
    stop: () => {
      clearInterval(timer);
      return {
        samples: scrapes.length,
        workflowTasks: slotUse(scrapes, 'WorkflowWorker'),
        activities: slotUse(scrapes, 'ActivityWorker'),
        localActivities: slotUse(scrapes, 'LocalActivityWorker'),
      };
    },
  };
}
