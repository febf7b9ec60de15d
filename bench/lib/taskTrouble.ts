// The package is CommonJS: Node's ESM loader gives it as the default export only.
import proto from '@temporalio/proto';

type HistoryEvent = proto.temporal.api.history.v1.IHistoryEvent;
const { TIMEOUT_TYPE_START_TO_CLOSE, TIMEOUT_TYPE_SCHEDULE_TO_START } =
  proto.temporal.api.enums.v1.TimeoutType;

/**
 * Work a history shows was done twice or waited too long: a workflow task that timed out is run again,
 * often by replaying the whole history, and a retried activity runs again. At 100 fleet clusters these
 * were the likeliest reason the worker's CPU per node grew with the load (none at 20 clusters).
 */
export interface TaskTrouble {
  /** Workflow tasks a worker took and did not complete within their start-to-close timeout. */
  taskStartToClose: number;
  /** Workflow tasks no worker took within their schedule-to-start timeout (the sticky queue's 10 s). */
  taskScheduleToStart: number;
  /** Workflow tasks a worker failed (a nondeterminism or an error in the workflow code). */
  taskFailed: number;
  activityTimeouts: number;
  /**
   * Remote activities that ran more than once: the server writes an activity's started event when it
   * closes, with its last attempt. Local activities (a node's health gates) leave no such event.
   */
  retriedActivities: number;
  /**
   * Why they ran again, with how many: the activity's type and the first line of its previous
   * attempt's failure, numbers written `#` so that the same failure on other nodes and clusters counts
   * as one.
   */
  retryCauses: Record<string, number>;
}

/** How much of a failure's first line names a retry's cause. */
const CAUSE_CHARS = 100;

/** "type: first line of the failure", numbers as `#`. */
function retryCause(type: string, failure: string): string {
  const line = (failure.split('\n')[0] ?? '').replace(/\d+/g, '#');
  return `${type}: ${line.length > CAUSE_CHARS ? `${line.slice(0, CAUSE_CHARS)}…` : line}`;
}

export const noTrouble = (): TaskTrouble => ({
  taskStartToClose: 0,
  taskScheduleToStart: 0,
  taskFailed: 0,
  activityTimeouts: 0,
  retriedActivities: 0,
  retryCauses: {},
});

/** Adds one history's trouble to `sum`. */
export function countTrouble(sum: TaskTrouble, events: HistoryEvent[]): TaskTrouble {
  const scheduled = new Map<number, string>();
  for (const e of events) {
    const type = e.activityTaskScheduledEventAttributes?.activityType?.name;
    if (type) scheduled.set(Number(e.eventId), type);
    const timedOut = e.workflowTaskTimedOutEventAttributes?.timeoutType;
    if (timedOut === TIMEOUT_TYPE_START_TO_CLOSE) sum.taskStartToClose++;
    if (timedOut === TIMEOUT_TYPE_SCHEDULE_TO_START) sum.taskScheduleToStart++;
    if (e.workflowTaskFailedEventAttributes) sum.taskFailed++;
    if (e.activityTaskTimedOutEventAttributes) sum.activityTimeouts++;
    const started = e.activityTaskStartedEventAttributes;
    if ((started?.attempt ?? 1) > 1) {
      sum.retriedActivities++;
      const cause = retryCause(
        scheduled.get(Number(started?.scheduledEventId)) ?? 'an activity',
        started?.lastFailure?.message ?? 'no failure recorded',
      );
      sum.retryCauses[cause] = (sum.retryCauses[cause] ?? 0) + 1;
    }
  }
  return sum;
}
