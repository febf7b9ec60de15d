import { z } from 'zod';

export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

const CLOCK = /^(?:[01]\d|2[0-3]):[0-5]\d$/;

function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/**
 * A weekly maintenance window: it opens at `start` on each of `days` (wall-clock time in `timeZone`)
 * and closes at `end` — on the next day when `end` is not after `start` (22:00-04:00).
 */
export const maintenanceWindowSchema = z
  .object({
    days: z
      .array(z.enum(WEEKDAYS, { error: `expected a day: ${WEEKDAYS.join(', ')}` }))
      .min(1)
      .default([...WEEKDAYS]),
    start: z.string().regex(CLOCK, { error: 'expected a time of day as HH:MM (24 h), e.g. 22:00' }),
    end: z.string().regex(CLOCK, { error: 'expected a time of day as HH:MM (24 h), e.g. 04:00' }),
    timeZone: z
      .string()
      .refine(isTimeZone, { error: 'expected an IANA time zone such as Europe/Berlin or UTC' })
      .default('UTC'),
  })
  .strict();

export type MaintenanceWindow = z.output<typeof maintenanceWindowSchema>;

/** Whether a window is open at a moment, and until when; or when the next one opens. */
export type WindowState = { open: true; closesAt: number } | { open: false; opensAt: number };

const MINUTE = 60_000;
const DAY = 86_400_000;

/** The wall clock of `timeZone` at `at`, read as if it were UTC (so date arithmetic is plain). */
function wallClock(at: number, timeZone: string): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  }).formatToParts(new Date(at));
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? 0);
  return Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
}

/**
 * The moment the wall clock of `timeZone` shows `wall` (a UTC-read wall time), tried with the zone's
 * offsets a day before and a day after. On a clock-change day a repeated time resolves to its first
 * moment, and a time the clocks skip to the moment as far after the gap (02:30 on a spring-forward
 * night is 03:30), as JavaScript's Temporal does by default.
 */
function momentOf(wall: number, timeZone: string): number {
  const offset = (at: number) => wallClock(at, timeZone) - at;
  const candidates = [wall - offset(wall - DAY), wall - offset(wall + DAY)];
  const exact = candidates.filter((at) => wallClock(at, timeZone) === wall);
  return exact.length > 0 ? Math.min(...exact) : Math.max(...candidates);
}

const minutesOf = (clock: string) => Number(clock.slice(0, 2)) * 60 + Number(clock.slice(3, 5));

/** Each opening of one window from a day before `at` to a week after: [opens, closes] moments. */
function openings(window: MaintenanceWindow, at: number): Array<[number, number]> {
  const today = Math.floor(wallClock(at, window.timeZone) / DAY) * DAY;
  const start = minutesOf(window.start);
  const end = minutesOf(window.end);
  const length = (end > start ? end - start : end + 24 * 60 - start) * MINUTE;
  const result: Array<[number, number]> = [];
  for (let offset = -1; offset <= 8; offset++) {
    const day = today + offset * DAY;
    if (!window.days.includes(WEEKDAYS[new Date(day).getUTCDay()] ?? 'sun')) continue;
    const opensWall = day + start * MINUTE;
    result.push([momentOf(opensWall, window.timeZone), momentOf(opensWall + length, window.timeZone)]);
  }
  return result;
}

/**
 * Whether any window is open at `at` (then until the last of the open ones closes, windows that
 * overlap or touch counting as one), or when the next one opens. No windows: always open.
 */
export function windowStateAt(windows: readonly MaintenanceWindow[], at: number): WindowState {
  const all = windows.flatMap((w) => openings(w, at)).sort((a, b) => a[0] - b[0]);
  if (all.length === 0) return { open: true, closesAt: Number.MAX_SAFE_INTEGER };
  let closesAt: number | undefined;
  for (const [opens, closes] of all) {
    if (closesAt === undefined ? opens <= at && at < closes : opens <= closesAt)
      closesAt = Math.max(closesAt ?? closes, closes);
  }
  if (closesAt !== undefined) return { open: true, closesAt };
  const next = all.find(([opens]) => opens > at);
  // Days are required to be non-empty, so a window opens within the week looked at.
  return { open: false, opensAt: next?.[0] ?? at + 7 * DAY };
}

/** One line for an operator: "mon-fri 22:00-04:00 Europe/Berlin". */
export function describeWindow(window: MaintenanceWindow): string {
  const days = window.days.length === 7 ? 'every day' : window.days.join(',');
  return `${days} ${window.start}-${window.end} ${window.timeZone}`;
}
