import { describe, expect, it } from '@jest/globals';
import {
  describeWindow,
  maintenanceWindowSchema,
  windowStateAt,
  type MaintenanceWindow,
} from '../../src/domain/index.js';

const window = (input: unknown): MaintenanceWindow => maintenanceWindowSchema.parse(input);
const at = (iso: string) => Date.parse(iso);
const iso = (ms: number) => new Date(ms).toISOString();

describe('maintenance windows', () => {
  // 2026-11-27 is a Friday; Europe/Berlin is UTC+1 in November, UTC+2 in summer.
  const weeknights = window({
    days: ['mon', 'tue', 'wed', 'thu'],
    start: '22:00',
    end: '04:00',
    timeZone: 'Europe/Berlin',
  });
  const saturday = window({ days: ['sat'], start: '09:00', end: '12:00', timeZone: 'Europe/Berlin' });

  it.each([
    // Thursday 23:30 Berlin: inside the night that opened Thursday 22:00, closes Friday 04:00.
    ['2026-11-26T22:30:00Z', { open: true, closesAt: '2026-11-27T03:00:00.000Z' }],
    // Friday 18:00 Berlin (a Friday evening merge): the next opening is Saturday 09:00.
    ['2026-11-27T17:00:00Z', { open: false, opensAt: '2026-11-28T08:00:00.000Z' }],
    // Saturday 12:00 sharp: closed; the next is Monday 22:00.
    ['2026-11-28T11:00:00Z', { open: false, opensAt: '2026-11-30T21:00:00.000Z' }],
    // Friday 03:59 Berlin: still the Thursday night.
    ['2026-11-27T02:59:00Z', { open: true, closesAt: '2026-11-27T03:00:00.000Z' }],
  ])('at %s', (moment, expected) => {
    const state = windowStateAt([weeknights, saturday], at(moment));
    expect(
      state.open
        ? { open: true, closesAt: iso(state.closesAt) }
        : { open: false, opensAt: iso(state.opensAt) },
    ).toEqual(expected);
  });

  it('follows daylight saving time: 22:00 Berlin is 20:00 UTC in summer', () => {
    const state = windowStateAt([weeknights], at('2026-07-06T12:00:00Z')); // a Monday
    expect(state).toEqual({ open: false, opensAt: at('2026-07-06T20:00:00Z') });
  });

  it.each([
    // Berlin springs forward on 2026-03-29 at 02:00 (CET +1 -> CEST +2): 01:30 is still CET.
    ['Europe/Berlin', '01:30', '2026-03-29T00:00:00Z', '2026-03-29T00:30:00Z'],
    // 02:30 does not exist that night: the moment as far after the gap, 03:30 CEST.
    ['Europe/Berlin', '02:30', '2026-03-29T00:00:00Z', '2026-03-29T01:30:00Z'],
    // Berlin falls back on 2026-10-25 at 03:00 (CEST -> CET): 02:30 comes twice, the first counts.
    ['Europe/Berlin', '02:30', '2026-10-24T23:00:00Z', '2026-10-25T00:30:00Z'],
    // New York falls back on 2026-11-01: 03:00 is EST (-5).
    ['America/New_York', '03:00', '2026-11-01T04:00:00Z', '2026-11-01T08:00:00Z'],
    // Sydney springs forward on 2026-10-04 at 02:00 (+10 -> +11): Saturday 22:00 is still +10.
    ['Australia/Sydney', '22:00', '2026-10-03T10:00:00Z', '2026-10-03T12:00:00Z'],
  ])('on a clock-change day in %s, %s opens at the right moment', (timeZone, start, now, opens) => {
    const w = window({ start, end: '05:00', timeZone });
    expect(iso((windowStateAt([w], at(now)) as { opensAt: number }).opensAt)).toBe(
      new Date(opens).toISOString(),
    );
  });

  it('joins windows that touch, and is always open without windows', () => {
    const evening = window({ start: '18:00', end: '20:00' });
    const night = window({ start: '20:00', end: '23:00' });
    expect(windowStateAt([night, evening], at('2026-11-27T19:00:00Z'))).toEqual({
      open: true,
      closesAt: at('2026-11-27T23:00:00Z'),
    });
    expect(windowStateAt([], at('2026-11-27T19:00:00Z')).open).toBe(true);
  });

  it('refuses what is not a window, naming the field', () => {
    const bad = maintenanceWindowSchema.safeParse({
      days: ['friday'],
      start: '25:00',
      end: '4am',
      timeZone: 'Mars/Base',
    });
    expect(bad.success).toBe(false);
    const paths = bad.error?.issues.map((i) => i.path.join('.')).sort();
    expect(paths).toEqual(['days.0', 'end', 'start', 'timeZone']);
    expect(describeWindow(weeknights)).toBe('mon,tue,wed,thu 22:00-04:00 Europe/Berlin');
    expect(describeWindow(window({ start: '01:00', end: '05:00' }))).toBe('every day 01:00-05:00 UTC');
  });
});
