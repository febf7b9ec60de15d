import { describe, expect, it } from '@jest/globals';
import { healthyOthers, othersHoldQuorum, voters, type QuorumView } from '../../src/domain/index.js';

const member = (node: string, learner = false) => ({ node, hostname: node, learner });

describe('the quorum decisions count voters only', () => {
  const three: QuorumView = {
    members: [member('cp1'), member('cp2'), member('cp3')],
    healthy: ['cp1', 'cp2', 'cp3'],
  };

  it('three healthy voters can spare any one', () => {
    for (const node of ['cp1', 'cp2', 'cp3']) expect(othersHoldQuorum(three, node)).toBe(true);
    expect(healthyOthers(three, 'cp1')).toBe(2);
  });

  it('with a learner, two voters cannot spare either: a learner that answers healthy is no vote', () => {
    const learning: QuorumView = { ...three, members: [member('cp1', true), member('cp2'), member('cp3')] };
    expect(voters(learning.members).map((m) => m.node)).toEqual(['cp2', 'cp3']);
    expect(othersHoldQuorum(learning, 'cp2')).toBe(false);
    expect(othersHoldQuorum(learning, 'cp3')).toBe(false);
    expect(healthyOthers(learning, 'cp2')).toBe(1);
    // The learner itself takes no vote with it.
    expect(othersHoldQuorum(learning, 'cp1')).toBe(true);
  });

  it('five members with one learner: four voters spare one only while three others answer', () => {
    const five: QuorumView = {
      members: [member('cp1', true), member('cp2'), member('cp3'), member('cp4'), member('cp5')],
      healthy: ['cp1', 'cp2', 'cp3', 'cp4', 'cp5'],
    };
    expect(othersHoldQuorum(five, 'cp2')).toBe(true);
    expect(othersHoldQuorum({ ...five, healthy: ['cp1', 'cp2', 'cp3', 'cp4'] }, 'cp2')).toBe(false);
  });

  it('a node that is no member takes nothing from etcd', () => {
    expect(othersHoldQuorum(three, 'worker-1')).toBe(true);
  });
});
