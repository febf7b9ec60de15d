import { describe, expect, it } from '@jest/globals';
import { chaosTables, runChaos, type ChaosOptions } from '../../bench/chaos.js';
import { fleetTable, runFleet } from '../../bench/fleet.js';
import { overheadTable, runOverhead } from '../../bench/overhead.js';
import { runSchedule, scheduleTable } from '../../bench/schedule.js';
import { runWebhookBench, webhookTable } from '../../bench/webhook.js';
import { testTemporalAddress } from '../harness/temporalEnv.js';

/**
 * Bounded runs of the bench/ scripts: the same code as the full runs (bench/RESULTS.md), on small
 * clusters and few repetitions, so CI proves each still runs end to end and prints its figures.
 * They assert what must hold whatever the machine (every run succeeds, nothing lost, no server
 * error); the speed figures are printed, never asserted.
 */
const quiet = () => undefined;

describe('bounded benchmarks', () => {
  it('chaos: 3 worker SIGKILLs and a dev server restart during a cattle upgrade of atlas', async () => {
    const options: ChaosOptions = {
      kills: 3,
      preset: 'atlas',
      to: '1.12.0',
      parallel: 1,
      seed: 20261122,
      gapMs: { min: 2000, max: 8000 },
      log: quiet,
    };
    const result = await runChaos(options);
    console.log(chaosTables(options, result));
    expect(result.outcome).toBe('succeeded');
    expect(result.kills).toHaveLength(3);
    expect(result.recoveries).toBe(3);
    expect(result.serverRestart.done).toBe(true);
    expect(result.vmsDestroyedTwice).toEqual([]);
    expect(result.leftCordoned).toEqual([]);
    expect(result.quorumViolations).toBe(0);
    expect(result.otherViolations).toEqual([]);
  }, 1_200_000);

  it('overhead: pets and cattle of atlas with instant node operations', async () => {
    const rows = await runOverhead({ preset: 'atlas', temporal: testTemporalAddress() });
    console.log(overheadTable(rows));
    expect(rows.map((r) => `${r.run}: ${r.outcome}`)).toEqual([
      'pets 1.11.3 -> 1.11.4: succeeded',
      'cattle 1.11.4 -> 1.12.0: succeeded',
    ]);
    for (const row of rows) {
      expect(row.nodes).toBe(5);
      expect(row.workMs).toBeGreaterThan(0);
      expect(row.workMs).toBeLessThanOrEqual(row.wallMs);
    }
  }, 1_200_000);

  // Two workers at a time only: the run at one (half the bench's time here) schedules nothing of its own.
  it('schedule: cattle of atlas at 2 workers at a time, scaled waits', async () => {
    const rows = await runSchedule({
      preset: 'atlas',
      parallel: [2],
      minuteMs: 500,
      temporal: testTemporalAddress(),
    });
    console.log(scheduleTable(rows, 500));
    expect(rows.map((r) => r.outcome)).toEqual(['succeeded']);
    for (const row of rows) expect(row.boundMs).toBeLessThanOrEqual(row.wallMs);
  }, 1_200_000);

  it('fleet: two atlas clusters upgraded at once by one worker', async () => {
    const result = await runFleet({
      clusters: 2,
      preset: 'atlas',
      temporal: testTemporalAddress(),
      log: quiet,
    });
    console.log(fleetTable(result));
    expect(result.succeeded).toBe(2);
    expect(result.nodeUpgrades).toBe(10);
    // Each member sees its own cluster: atlas's 5 Nodes and its 3 controllers' 3 mirror pods each.
    expect(result.memberView).toEqual({ nodes: 5, systemPods: 9 });
    expect(result.violations).toBe(0);
    expect(result.peakRssMb).toBeGreaterThan(0);
    // Sampled from the worker's metrics: at 2 clusters the bench's worker has 20 activities, so 40 workflow tasks.
    expect(result.slots.samples).toBeGreaterThan(0);
    expect(result.slots.workflowTasks.slots).toBe(40);
    expect(result.slots.activities.slots).toBe(20);
  }, 1_200_000);

  it('webhook: 300 signed deliveries from 4 senders', async () => {
    const result = await runWebhookBench({
      deliveries: 300,
      concurrency: 4,
      warmup: 20,
      temporal: testTemporalAddress(),
      log: quiet,
    });
    console.log(webhookTable(result, 4));
    expect(result.serverErrors).toBe(0);
    expect(result.warmup).toMatchObject({ count: 20, serverErrors: 0 });
    const byKind = Object.fromEntries(result.rows.map((r) => [r.kind, r.statuses]));
    expect(byKind['merged pull request']).toMatch(/^202×\d+$/);
    // Recorded too: the webhook reads no repository, the queue finds nothing to do when it does.
    expect(byKind['push, no version change']).toMatch(/^202×\d+$/);
    expect(byKind.ping).toMatch(/^200×\d+$/);
    expect(byKind['bad signature']).toMatch(/^401×\d+$/);
  }, 600_000);
});
