import { describe, expect, it } from '@jest/globals';
import type { ClusterProgress } from '../../src/workflows/types.js';
import { approvalRefusal, windowOverrideRefusal } from '../../src/workflows/operatorUpdates.js';

// The validators' reasons, read without a run: approval.test meets some of them only when a race goes
// the validator's way (an approve sent after a reject can find the run already closed).
const progress = (fields: Partial<ClusterProgress>): ClusterProgress => ({
  phase: 'Upgrading',
  paused: false,
  current: [],
  inFlight: [],
  nodes: [],
  totalNodeUpgrades: 15,
  ...fields,
});

describe('approvalRefusal', () => {
  const waiting = progress({ phase: 'AwaitingApproval', approval: { state: 'waiting' } });

  it('lets a decision through only while the run waits for one', () => {
    expect(approvalRefusal({ progress: waiting, decisions: {} })).toBeUndefined();
    expect(approvalRefusal({ progress: progress({ phase: 'Upgrading' }), decisions: {} })).toBe(
      'this run waits for no approval (phase Upgrading; only a hop that policy.approval names waits)',
    );
  });

  it('names who decided first, whichever way', () => {
    expect(approvalRefusal({ progress: waiting, decisions: { approval: { by: 'bob' } } })).toBe(
      'already approved by bob',
    );
    expect(
      approvalRefusal({ progress: waiting, decisions: { rejection: { by: 'alice', reason: 'no' } } }),
    ).toBe('already rejected by alice');
  });
});

describe('windowOverrideRefusal', () => {
  it('keeps an override made before planning, and refuses one twice or without windows', () => {
    expect(
      windowOverrideRefusal({ progress: progress({ phase: 'Planning' }), decisions: {} }),
    ).toBeUndefined();
    const windowed = progress({ maintenanceWindows: ['Sat 02:00-06:00'] });
    expect(windowOverrideRefusal({ progress: windowed, decisions: {} })).toBeUndefined();
    expect(
      windowOverrideRefusal({ progress: windowed, decisions: { windowOverride: { by: 'carol' } } }),
    ).toBe('already overridden by carol');
    expect(windowOverrideRefusal({ progress: progress({}), decisions: {} })).toBe(
      "this cluster's policy has no maintenance windows: nodes may start at any time",
    );
  });
});
