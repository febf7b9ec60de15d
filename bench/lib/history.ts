import type { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/** A span of time [start, end) in epoch milliseconds. */
export interface Interval {
  start: number;
  end: number;
}

/** What one workflow's history says about where its time went. */
export interface WorkflowTimes {
  workflowId: string;
  events: number;
  start: number;
  end: number;
  /** Activities from the moment a worker started them until they closed (each attempt's work). */
  activities: Array<Interval & { type: string }>;
  timers: Interval[];
  /** Child workflows, by id, from their start being initiated until they closed. */
  children: Array<Interval & { workflowId: string }>;
}

const LOCAL_ACTIVITY_MARKER = 'core_local_activity';

interface LocalActivityMarkerData {
  activity_type?: string;
  original_schedule_time?: { seconds: number; nanos: number };
}

/** A local activity's type and when a worker first scheduled it (wall clock), from its marker. */
function localActivityStart(
  marker: temporal.api.history.v1.IMarkerRecordedEventAttributes,
): { type: string; start: number } | undefined {
  const payload = marker.details?.data?.payloads?.[0];
  if (!payload) return undefined;
  const data = defaultPayloadConverter.fromPayload<LocalActivityMarkerData>(payload);
  if (!data.original_schedule_time) return undefined;
  return { type: data.activity_type ?? '?', start: millis(data.original_schedule_time) };
}

/**
 * A local activity leaves only a marker, written with the workflow task that completed after it. Its
 * `original_schedule_time` is the wall clock when the worker scheduled it; its `complete_time` is not:
 * sdk-core sets it to the workflow's own time when the activity was scheduled plus the activity's
 * runtime (local_activity_state_machine.rs), which lags or leads the clock (a node's kernel check
 * "ended" 214 ms before it began). The local activities of one task run one after another inside it,
 * so each works from its schedule until the next one's, the last until the task completed.
 */
function localActivitiesOfTask(
  starts: Array<{ type: string; start: number }>,
  taskCompleted: number,
): Array<Interval & { type: string }> {
  const sorted = [...starts].sort((a, b) => a.start - b.start);
  return sorted.map((la, i) => ({
    type: la.type,
    start: la.start,
    end: Math.max(la.start, Math.min(sorted[i + 1]?.start ?? taskCompleted, taskCompleted)),
  }));
}

/** Epoch milliseconds of a protobuf Timestamp, whose seconds may be a Long, a string or a number. */
function millis(
  ts: { seconds?: number | string | { toString(): string } | null; nanos?: number | null } | null | undefined,
): number {
  if (!ts) return 0;
  const seconds = typeof ts.seconds === 'number' ? ts.seconds : Number(ts.seconds?.toString() ?? 0);
  return seconds * 1000 + Math.floor((ts.nanos ?? 0) / 1e6);
}

export async function fetchEvents(client: Client, workflowId: string): Promise<HistoryEvent[]> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  return history.events ?? [];
}

/**
 * Turns a history into time spans. An activity's work runs from its ActivityTaskStarted event (whose
 * time is when a worker took the task, though the event is written when it closes) to its close, a
 * local activity's from its scheduling to the next one's or its task's completion (see
 * localActivitiesOfTask); the wait between scheduling and start is orchestration, as is everything
 * else outside a span.
 */
export function workflowTimes(workflowId: string, events: HistoryEvent[]): WorkflowTimes {
  const scheduled = new Map<string, string>();
  const started = new Map<string, number>();
  const timerStarts = new Map<string, number>();
  const childStarts = new Map<string, { at: number; workflowId: string }>();
  // The local activities of each completed workflow task, by the task's completion event id.
  const taskCompleted = new Map<string, number>();
  const localStarts = new Map<string, Array<{ type: string; start: number }>>();
  const times: WorkflowTimes = {
    workflowId,
    events: events.length,
    start: millis(events[0]?.eventTime),
    end: millis(events.at(-1)?.eventTime),
    activities: [],
    timers: [],
    children: [],
  };
  for (const event of events) {
    const at = millis(event.eventTime);
    const id = String(event.eventId ?? '');
    const closed =
      event.activityTaskCompletedEventAttributes ??
      event.activityTaskFailedEventAttributes ??
      event.activityTaskTimedOutEventAttributes ??
      event.activityTaskCanceledEventAttributes;
    const childClosed =
      event.childWorkflowExecutionCompletedEventAttributes ??
      event.childWorkflowExecutionFailedEventAttributes ??
      event.childWorkflowExecutionCanceledEventAttributes ??
      event.childWorkflowExecutionTerminatedEventAttributes ??
      event.childWorkflowExecutionTimedOutEventAttributes;
    if (event.activityTaskScheduledEventAttributes) {
      scheduled.set(id, event.activityTaskScheduledEventAttributes.activityType?.name ?? '?');
    } else if (event.activityTaskStartedEventAttributes) {
      started.set(String(event.activityTaskStartedEventAttributes.scheduledEventId ?? ''), at);
    } else if (closed) {
      const key = String(closed.scheduledEventId ?? '');
      const from = started.get(key);
      if (from !== undefined)
        times.activities.push({ type: scheduled.get(key) ?? '?', start: from, end: at });
    } else if (event.workflowTaskCompletedEventAttributes) {
      taskCompleted.set(id, at);
    } else if (event.markerRecordedEventAttributes?.markerName === LOCAL_ACTIVITY_MARKER) {
      const local = localActivityStart(event.markerRecordedEventAttributes);
      const task = String(event.markerRecordedEventAttributes.workflowTaskCompletedEventId ?? '');
      if (local) localStarts.set(task, [...(localStarts.get(task) ?? []), local]);
    } else if (event.timerStartedEventAttributes) {
      timerStarts.set(event.timerStartedEventAttributes.timerId ?? '', at);
    } else if (event.timerFiredEventAttributes) {
      const from = timerStarts.get(event.timerFiredEventAttributes.timerId ?? '');
      if (from !== undefined) times.timers.push({ start: from, end: at });
    } else if (event.startChildWorkflowExecutionInitiatedEventAttributes) {
      childStarts.set(id, {
        at,
        workflowId: event.startChildWorkflowExecutionInitiatedEventAttributes.workflowId ?? '',
      });
    } else if (childClosed) {
      const child = childStarts.get(String(childClosed.initiatedEventId ?? ''));
      if (child) times.children.push({ workflowId: child.workflowId, start: child.at, end: at });
    }
  }
  for (const [task, starts] of localStarts)
    times.activities.push(...localActivitiesOfTask(starts, taskCompleted.get(task) ?? times.end));
  return times;
}

/** The length of the union of intervals, clipped to [from, to]. */
export function covered(intervals: Interval[], from = -Infinity, to = Infinity): number {
  const sorted = intervals
    .map((i) => ({ start: Math.max(i.start, from), end: Math.min(i.end, to) }))
    .filter((i) => i.end > i.start)
    .sort((a, b) => a.start - b.start);
  let total = 0;
  let current: Interval | undefined;
  for (const interval of sorted) {
    if (current && interval.start <= current.end) current.end = Math.max(current.end, interval.end);
    else {
      if (current) total += current.end - current.start;
      current = { ...interval };
    }
  }
  return total + (current ? current.end - current.start : 0);
}

/** A cluster run and each of its node workflows, fetched from Temporal. */
export interface RunTimes {
  cluster: WorkflowTimes;
  nodes: WorkflowTimes[];
}

export async function fetchRunTimes(client: Client, clusterWorkflowId: string): Promise<RunTimes> {
  const cluster = workflowTimes(clusterWorkflowId, await fetchEvents(client, clusterWorkflowId));
  const nodes: WorkflowTimes[] = [];
  for (const child of cluster.children)
    nodes.push(workflowTimes(child.workflowId, await fetchEvents(client, child.workflowId)));
  return { cluster, nodes };
}

/** Work in a workflow: time covered by its activities' attempts and its timers. */
export function workOf(times: WorkflowTimes, from?: number, to?: number): number {
  return covered([...times.activities, ...times.timers], from, to);
}

/**
 * Where a workflow's span is not work: each gap longer than `minMs` between one activity or timer
 * reaching its furthest end and the next one starting, named by the two steps ("drainNode→timer
 * 812ms"). Steps that overlap leave no gap.
 */
export function gapsOf(times: WorkflowTimes, minMs = 40): string[] {
  const steps = [...times.activities, ...times.timers.map((timer) => ({ ...timer, type: 'timer' }))].sort(
    (a, b) => a.start - b.start,
  );
  const gaps: string[] = [];
  let reached = { end: times.start, type: 'start' };
  for (const step of [...steps, { start: times.end, end: times.end, type: 'end' }]) {
    if (step.start - reached.end > minMs)
      gaps.push(`${reached.type}→${step.type} ${step.start - reached.end}ms`);
    if (step.end > reached.end) reached = step;
  }
  return gaps;
}
