import { describe, expect, it } from '@jest/globals';
import { slotScrape, slotUse } from '../../bench/lib/slotSamples.js';

// The worker's own lines (a fleet worker at 100 clusters, 2026-11-27), trimmed to the slot gauges and
// a neighbour whose name starts the same.
const labels = (queue: string, kind: string) =>
  `{namespace="default",service_name="temporal-core-sdk",task_queue="${queue}",worker_type="${kind}"}`;
const scrapeText = (queue: string, used: [number, number, number], available: [number, number, number]) =>
  [
    '# HELP temporal_worker_task_slots_available Current number of available slots per task type',
    '# TYPE temporal_worker_task_slots_available gauge',
    `temporal_worker_task_slots_available${labels(queue, 'ActivityWorker')} ${available[0]}`,
    `temporal_worker_task_slots_available${labels(queue, 'LocalActivityWorker')} ${available[1]}`,
    `temporal_worker_task_slots_available${labels(queue, 'WorkflowWorker')} ${available[2]}`,
    `temporal_worker_task_slots_used${labels(queue, 'ActivityWorker')} ${used[0]}`,
    `temporal_worker_task_slots_used${labels(queue, 'LocalActivityWorker')} ${used[1]}`,
    `temporal_worker_task_slots_used${labels(queue, 'WorkflowWorker')} ${used[2]}`,
    `temporal_worker_task_slots_used_total${labels(queue, 'WorkflowWorker')} 999`,
  ].join('\n');

describe('the worker slots a bench samples', () => {
  it('reads each kind in use and free, summed over task queues', () => {
    const one = scrapeText('bench-fleet-a', [30, 0, 69], [370, 400, 331]);
    expect(slotScrape(one)).toMatchObject({
      used: { ActivityWorker: 30, LocalActivityWorker: 0, WorkflowWorker: 69 },
      available: { ActivityWorker: 370, LocalActivityWorker: 400, WorkflowWorker: 331 },
    });
    const two = `${one}\n${scrapeText('bench-fleet-b', [1, 2, 3], [4, 5, 6])}`;
    expect(slotScrape(two).used).toEqual({ ActivityWorker: 31, LocalActivityWorker: 2, WorkflowWorker: 72 });
    expect(slotScrape('# no worker yet\n')).toMatchObject({ gauges: 0, used: { WorkflowWorker: 0 } });
    expect(slotScrape(one).gauges).toBe(6);
  });

  it("gives the median and the largest of the samples, and the worker's number of slots", () => {
    const scrapes = [69, 12, 117, 70].map((used) =>
      slotScrape(scrapeText('q', [0, 0, used], [0, 0, 400 - used])),
    );
    expect(slotUse(scrapes, 'WorkflowWorker')).toEqual({ median: 69.5, max: 117, slots: 400 });
    expect(slotUse(scrapes.slice(0, 3), 'WorkflowWorker').median).toBe(69);
    expect(slotUse([], 'WorkflowWorker')).toEqual({ median: 0, max: 0, slots: 0 });
    // The two gauges are written apart: a scrape between the writes sums to one more or one less.
    const torn = slotScrape(scrapeText('q', [0, 0, 70], [0, 0, 331]));
    expect(slotUse([...scrapes, torn], 'WorkflowWorker').slots).toBe(400);
  });
});
