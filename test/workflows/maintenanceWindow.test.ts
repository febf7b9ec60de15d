import { describe, expect, it } from '@jest/globals';
import { WEEKDAYS, type MaintenanceWindow } from '../../src/domain/index.js';
import { clusterUpgrade } from '../../src/workflows/index.js';
import { overrideWindowUpdate, progressQuery } from '../../src/workflows/signals.js';
import { eventually } from '../lab/labHarness.js';
import { labReport, labStatus } from './labViews.js';
import { labWithWorker } from './workflowHarness.js';

// atlas: 3 controllers and 2 workers, pets from 1.11.3 to 1.11.4. The windows are read from the
// worker's inventory when a run plans, so each test sets them just before it starts its run.
const suite = labWithWorker('atlas');

const MINUTE = 60_000;
const hhmm = (ms: number) => new Date(ms).toISOString().slice(11, 16);
/** A window every day, in UTC, from one moment's time of day to another's. */
const everyDay = (from: number, to: number): MaintenanceWindow => ({
  days: [...WEEKDAYS],
  start: hhmm(from),
  end: hhmm(to),
  timeZone: 'UTC',
});

function start(id: string) {
  const { h } = suite;
  return h.client.workflow.start(clusterUpgrade, {
    taskQueue: h.taskQueue,
    workflowId: `talos-upgrade:atlas:${id}`,
    args: [{ requestId: id, cluster: 'atlas', talos: { to: '1.11.4' }, source: 'test' }],
    workflowExecutionTimeout: '30 minutes',
  });
}

async function waitingUntil(handle: Awaited<ReturnType<typeof start>>, until: number) {
  return eventually(
    `the run to wait for the window opening at ${new Date(until).toISOString()}`,
    async () => {
      const progress = await handle.query(progressQuery).catch(() => undefined);
      return progress?.phase === 'AwaitingMaintenanceWindow' &&
        progress.window?.until === new Date(until).toISOString()
        ? progress
        : undefined;
    },
    3 * MINUTE,
  );
}

describe('maintenance windows (atlas)', () => {
  it(
    'no node starts outside a window; the node in flight at its close finishes; the next waits for the next opening',
    async () => {
      const { h, lab } = suite;
      // A one-minute window opening at the next whole minute at least 10 s away; a controller's
      // stabilisation (70 s) outlasts it, so the first node is surely in flight when it closes.
      const opens = Math.ceil((Date.now() + 10_000) / MINUTE) * MINUTE;
      const closes = opens + MINUTE;
      h.inventory.policy.maintenanceWindows = [everyDay(opens, closes)];
      h.inventory.policy.stabilisation = 70_000;
      const handle = await start('window-closes');
      const before = await waitingUntil(handle, opens);
      expect(before.maintenanceWindows).toEqual([`every day ${hhmm(opens)}-${hhmm(closes)} UTC`]);
      expect((await labStatus(lab)).filter((row) => row.cordoned || row.talos !== '1.11.3')).toEqual([]);
      // The wait is a durable timer in the run's history, set for the opening.
      const history = await handle.fetchHistory();
      expect(history.events?.some((e) => e.timerStartedEventAttributes)).toBe(true);

      // After the close: the next node waits for tomorrow's opening.
      const after = await waitingUntil(handle, opens + 24 * 60 * MINUTE);
      expect(Date.now()).toBeGreaterThanOrEqual(closes);
      expect(after.nodes.map((n) => [n.node, n.outcome])).toEqual([['talos-cp-1', 'upgraded']]);
      const first = after.nodes[0];
      const startedAt = Date.parse(first?.startedAt ?? '');
      expect(startedAt).toBeGreaterThanOrEqual(opens);
      expect(startedAt).toBeLessThan(closes);
      expect(startedAt + (first?.durationMs ?? 0)).toBeGreaterThan(closes);
      expect(after.current).toEqual([]);
      await handle.cancel();
      expect((await handle.result()).outcome).toBe('cancelled');
      const rows = await labStatus(lab);
      expect(rows.filter((row) => row.talos === '1.11.4').map((row) => row.node)).toEqual(['talos-cp-1']);
      expect(rows.filter((row) => row.cordoned)).toEqual([]);
    },
    10 * MINUTE,
  );

  it(
    'an operator overrides the windows for one run: it goes on at once, and a second override is refused',
    async () => {
      const { h, lab } = suite;
      // A window that is surely closed now: a two-minute window six hours away.
      const opens = Date.now() + 6 * 60 * MINUTE;
      h.inventory.policy.maintenanceWindows = [everyDay(opens, opens + 2 * MINUTE)];
      h.inventory.policy.stabilisation = 1000;
      const handle = await start('window-override');
      const waiting = await eventually('the run to wait for a window', async () => {
        const progress = await handle.query(progressQuery).catch(() => undefined);
        return progress?.phase === 'AwaitingMaintenanceWindow' ? progress : undefined;
      });
      expect(waiting.window?.state).toBe('waiting');
      const state = await handle.executeUpdate(overrideWindowUpdate, {
        args: [{ by: 'alice', reason: 'security fix, tonight' }],
      });
      expect(state.window).toMatchObject({ state: 'overridden', by: 'alice' });
      await expect(
        handle.executeUpdate(overrideWindowUpdate, { args: [{ by: 'bob' }] }),
      ).rejects.toMatchObject({ cause: { message: 'already overridden by alice' } });
      const result = await handle.result();
      expect(result.outcome).toBe('succeeded');
      expect((await labStatus(lab)).every((row) => row.talos === '1.11.4' && !row.cordoned)).toBe(true);
      expect((await labReport(lab)).violations).toEqual([]);
    },
    10 * MINUTE,
  );
});
