import { readFile } from 'node:fs/promises';
import { describe, expect, it } from '@jest/globals';
import { defaultPayloadConverter } from '@temporalio/common';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import proto from '@temporalio/proto';
import { gapsOf, workflowTimes, workOf, type WorkflowTimes } from '../../bench/lib/history.js';
import { countTrouble, noTrouble } from '../../bench/lib/taskTrouble.js';

type HistoryEvent = proto.temporal.api.history.v1.IHistoryEvent;
const { TimeoutType } = proto.temporal.api.enums.v1;

const at = (ms: number) => ({ seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 });

/** A local activity's marker as sdk-core writes it: complete_time in workflow time, not the clock's. */
function marker(eventId: number, taskCompleted: number, type: string, scheduledMs: number) {
  const data = {
    activity_type: type,
    original_schedule_time: at(scheduledMs),
    complete_time: at(scheduledMs - 214),
  };
  return {
    eventId,
    eventTime: at(1500),
    markerRecordedEventAttributes: {
      markerName: 'core_local_activity',
      workflowTaskCompletedEventId: taskCompleted,
      details: { data: { payloads: [defaultPayloadConverter.toPayload(data)] } },
    },
  };
}

describe('workflowTimes', () => {
  it("takes a local activity's work from its schedule to the next one's, the last to its task's end", () => {
    // Plain numbers where the generated types say Long: the reader takes either.
    const events = [
      { eventId: 1, eventTime: at(1000), workflowExecutionStartedEventAttributes: {} },
      { eventId: 2, eventTime: at(1000), workflowTaskScheduledEventAttributes: {} },
      { eventId: 3, eventTime: at(1005), workflowTaskStartedEventAttributes: {} },
      { eventId: 4, eventTime: at(1500), workflowTaskCompletedEventAttributes: {} },
      marker(5, 4, 'checkKernelArgs', 1200),
      marker(6, 4, 'checkNodeNics', 1050),
      { eventId: 7, eventTime: at(1500), workflowExecutionCompletedEventAttributes: {} },
    ] as unknown as HistoryEvent[];
    const times = workflowTimes('wf', events);
    expect(times.activities).toEqual([
      { type: 'checkNodeNics', start: 1050, end: 1200 },
      { type: 'checkKernelArgs', start: 1200, end: 1500 },
    ]);
    // The 45 ms before the first local activity is the workflow task's own: orchestration.
    expect(workOf(times)).toBe(450);
  });
});

describe('gapsOf', () => {
  it('names each gap between steps, counting from the furthest end reached, and skips overlaps and short gaps', () => {
    const times: WorkflowTimes = {
      workflowId: 'wf',
      events: 0,
      start: 0,
      end: 2000,
      activities: [
        { type: 'cordonNode', start: 100, end: 300 },
        // Inside drainNode's span: the gap after it is measured from drainNode's end, not its own.
        { type: 'drainNode', start: 320, end: 1000 },
        { type: 'runHealthChecks', start: 400, end: 600 },
      ],
      timers: [{ start: 1500, end: 1980 }],
      children: [],
    };
    expect(gapsOf(times)).toEqual(['start→cordonNode 100ms', 'drainNode→timer 500ms']);
    expect(gapsOf(times, 10)).toEqual([
      'start→cordonNode 100ms',
      'cordonNode→drainNode 20ms',
      'drainNode→timer 500ms',
      'timer→end 20ms',
    ]);
  });
});

describe('countTrouble', () => {
  it('counts the retried activity of a recorded run', async () => {
    const recorded = JSON.parse(
      await readFile(new URL('../replay/histories/stuck-undo-node-controller.json', import.meta.url), 'utf8'),
    ) as { history: unknown };
    const events = historyFromJSON(recorded.history).events ?? [];
    const trouble = countTrouble(noTrouble(), events);
    expect({ ...trouble, retryCauses: {} }).toEqual({ ...noTrouble(), retriedActivities: 1 });
    // Its type and the first line of the attempt before, numbers as `#`. What follows the parenthesis is
    // the last line talosctl printed, which depends on the moment the recording's attempt timed out.
    expect(Object.entries(trouble.retryCauses)).toEqual([
      [
        expect.stringMatching(
          /^upgradeNodeInPlace: talos-cp-# did not finish its upgrade to #\.#\.# within #s \(/,
        ),
        1,
      ],
    ]);
  });

  it('tells the two workflow task timeouts apart and adds to the sum it is given', () => {
    const events = [
      { workflowTaskTimedOutEventAttributes: { timeoutType: TimeoutType.TIMEOUT_TYPE_START_TO_CLOSE } },
      { workflowTaskTimedOutEventAttributes: { timeoutType: TimeoutType.TIMEOUT_TYPE_SCHEDULE_TO_START } },
      { workflowTaskTimedOutEventAttributes: { timeoutType: TimeoutType.TIMEOUT_TYPE_SCHEDULE_TO_START } },
      { workflowTaskFailedEventAttributes: {} },
      { activityTaskTimedOutEventAttributes: {} },
      { eventId: 7, activityTaskScheduledEventAttributes: { activityType: { name: 'drainNode' } } },
      { activityTaskStartedEventAttributes: { scheduledEventId: 7, attempt: 1 } },
      {
        activityTaskStartedEventAttributes: {
          scheduledEventId: 7,
          attempt: 3,
          lastFailure: { message: 'prox-ops-07-w3: 429 Too Many Requests\nat drain' },
        },
      },
      { activityTaskStartedEventAttributes: { scheduledEventId: 99, attempt: 2 } },
      {
        activityTaskStartedEventAttributes: {
          scheduledEventId: 7,
          attempt: 2,
          lastFailure: { message: `${'x'.repeat(99)}yz` },
        },
      },
    ] as HistoryEvent[];
    const sum = countTrouble(noTrouble(), events);
    expect(countTrouble(sum, events)).toEqual({
      taskStartToClose: 2,
      taskScheduleToStart: 4,
      taskFailed: 2,
      activityTimeouts: 2,
      retriedActivities: 6,
      retryCauses: {
        'drainNode: prox-ops-#-w#: # Too Many Requests': 2,
        'an activity: no failure recorded': 2,
        // A long line is cut at 100 characters.
        [`drainNode: ${'x'.repeat(99)}y…`]: 2,
      },
    });
  });
});
