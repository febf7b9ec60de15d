import { defaultPayloadConverter } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import { connectClient } from '../temporalClient.js';
import { duration } from './format.js';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
/** The marker Temporal's core writes for each local activity (patches write others). */
const LOCAL_ACTIVITY_MARKER = 'core_local_activity';
/** The parts of a node or run result the timeline mentions. */
type ResultFields = { node?: string; outcome?: string; durationMs?: number; reason?: string } | undefined;

function decode(payloads: temporal.api.common.v1.IPayloads | null | undefined): unknown[] {
  return (payloads?.payloads ?? []).map((p) => {
    try {
      return defaultPayloadConverter.fromPayload(p);
    } catch {
      return '(undecodable)';
    }
  });
}

function failureText(failure: temporal.api.failure.v1.IFailure | null | undefined): string {
  let f = failure;
  while (f?.cause) f = f.cause;
  return f?.message ?? 'unknown failure';
}

/** One event in words, or undefined for the bookkeeping an operator does not need to read. */
function inWords(
  event: HistoryEvent,
  activities: Map<string, string>,
  children: Map<string, string>,
): string | undefined {
  const id = String(event.eventId ?? '');
  const a = event;
  if (a.workflowExecutionStartedEventAttributes) {
    const [request] = decode(a.workflowExecutionStartedEventAttributes.input) as Array<
      Record<string, unknown>
    >;
    const source = request && typeof request.source === 'string' ? ` (${request.source})` : '';
    return `started ${a.workflowExecutionStartedEventAttributes.workflowType?.name ?? ''}${source}`;
  }
  if (a.activityTaskScheduledEventAttributes) {
    activities.set(id, a.activityTaskScheduledEventAttributes.activityType?.name ?? 'activity');
    return undefined;
  }
  if (a.activityTaskCompletedEventAttributes)
    return `${activities.get(String(a.activityTaskCompletedEventAttributes.scheduledEventId)) ?? 'activity'} done`;
  if (a.activityTaskFailedEventAttributes)
    return `${activities.get(String(a.activityTaskFailedEventAttributes.scheduledEventId)) ?? 'activity'} FAILED: ${failureText(a.activityTaskFailedEventAttributes.failure)}`;
  if (a.activityTaskTimedOutEventAttributes)
    return `${activities.get(String(a.activityTaskTimedOutEventAttributes.scheduledEventId)) ?? 'activity'} timed out (a worker died?) — retried`;
  const marker = a.markerRecordedEventAttributes;
  if (marker?.markerName === LOCAL_ACTIVITY_MARKER) {
    // Quick steps run as local activities: their record is a marker that names the activity.
    const [data] = decode(marker.details?.data) as Array<
      { activity_type?: string; backoff?: unknown } | undefined
    >;
    const name = data?.activity_type ?? 'local activity';
    if (!marker.failure) return `${name} done`;
    if (marker.failure.canceledFailureInfo) return `${name} cancelled`;
    // A long backoff leaves the local activity for a timer: it is tried again after it.
    if (data?.backoff) return `${name} failed: ${failureText(marker.failure)} — retried`;
    return `${name} FAILED: ${failureText(marker.failure)}`;
  }
  if (a.startChildWorkflowExecutionInitiatedEventAttributes) {
    const childId = a.startChildWorkflowExecutionInitiatedEventAttributes.workflowId ?? '';
    children.set(id, childId);
    return undefined;
  }
  if (a.childWorkflowExecutionStartedEventAttributes) {
    const childId = a.childWorkflowExecutionStartedEventAttributes.workflowExecution?.workflowId ?? '';
    return `node workflow started: ${childId}`;
  }
  if (a.childWorkflowExecutionCompletedEventAttributes) {
    const [r] = decode(a.childWorkflowExecutionCompletedEventAttributes.result) as ResultFields[];
    return `node ${r?.node ?? ''} ${r?.outcome ?? 'done'} in ${duration(r?.durationMs ?? 0)}`;
  }
  if (a.childWorkflowExecutionFailedEventAttributes)
    return `node workflow ${a.childWorkflowExecutionFailedEventAttributes.workflowExecution?.workflowId ?? ''} failed: ${failureText(a.childWorkflowExecutionFailedEventAttributes.failure)}`;
  if (a.childWorkflowExecutionCanceledEventAttributes)
    return `node workflow ${a.childWorkflowExecutionCanceledEventAttributes.workflowExecution?.workflowId ?? ''} cancelled`;
  if (a.timerStartedEventAttributes) {
    const seconds = Number(a.timerStartedEventAttributes.startToFireTimeout?.seconds ?? 0);
    return `waiting ${duration(seconds * 1000)} (timer)`;
  }
  if (a.workflowExecutionSignaledEventAttributes) {
    const [arg] = decode(a.workflowExecutionSignaledEventAttributes.input) as Array<Record<string, unknown>>;
    const by = arg && typeof arg.by === 'string' ? ` by ${arg.by}` : '';
    return `signal ${a.workflowExecutionSignaledEventAttributes.signalName ?? ''}${by}`;
  }
  if (a.upsertWorkflowSearchAttributesEventAttributes) {
    const phase =
      a.upsertWorkflowSearchAttributesEventAttributes.searchAttributes?.indexedFields?.UpgradePhase;
    const [value] = phase ? decode({ payloads: [phase] }) : [];
    return Array.isArray(value) && value[0] ? `phase: ${String(value[0])}` : undefined;
  }
  if (a.workflowExecutionCancelRequestedEventAttributes) return 'cancellation requested';
  if (a.workflowExecutionCompletedEventAttributes) {
    const [r] = decode(a.workflowExecutionCompletedEventAttributes.result) as ResultFields[];
    return `finished: ${r?.outcome ?? 'completed'}${r?.reason ? ` — ${r.reason}` : ''}`;
  }
  if (a.workflowExecutionFailedEventAttributes)
    return `FAILED: ${a.workflowExecutionFailedEventAttributes.failure?.message ?? ''}`;
  if (a.workflowExecutionTerminatedEventAttributes)
    return `terminated: ${a.workflowExecutionTerminatedEventAttributes.reason ?? ''}`;
  if (a.workflowExecutionContinuedAsNewEventAttributes) return 'continued as new';
  return undefined;
}

/** A history's timeline in words: one line per meaningful event, its time of day first. */
export function timeline(history: temporal.api.history.v1.IHistory): string[] {
  const activities = new Map<string, string>();
  const children = new Map<string, string>();
  const lines: string[] = [];
  for (const event of history.events ?? []) {
    const words = inWords(event, activities, children);
    if (!words) continue;
    const seconds = Number(event.eventTime?.seconds ?? 0);
    lines.push(`${new Date(seconds * 1000).toISOString().slice(11, 19)}  ${words}`);
  }
  return lines;
}

/** `history <workflowId>`: the run's timeline in words, one line per meaningful event. */
export async function historyCommand(workflowId: string): Promise<number> {
  const temporal = await connectClient();
  try {
    const history = await temporal.client.workflow.getHandle(workflowId).fetchHistory();
    for (const line of timeline(history)) console.log(line);
    return 0;
  } finally {
    await temporal.close();
  }
}
