import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { clusterUpgrade } from '../../src/workflows/index.js';
import type { ClusterUpgradeResult } from '../../src/workflows/types.js';
import { startLab, type Lab } from '../lab/labHarness.js';
import { eventsSince, labReport, timelineMark } from './labViews.js';
import { startWorkflowHarness, type WorkflowHarness } from './workflowHarness.js';

/**
 * A recreated control plane joins etcd as a learner: it holds no vote until Talos promotes it, which
 * Talos retries every 15 s for 10 minutes (services/etcd.go promoteMember, v1.11.3 to v1.13.8). Until
 * then a three-member cluster has two voters, and taking a second controller down would leave one.
 * The lab keeps talos-cp-1's new member a learner for 40 s; the run must not touch talos-cp-2 before
 * the promotion.
 */
let lab: Lab;
let h: WorkflowHarness;
beforeAll(async () => {
  lab = await startLab('atlas');
  h = await startWorkflowHarness(lab);
}, 900_000);
afterEach(async () => {
  await lab.clearFaults();
});
afterAll(async () => {
  await h?.stop();
  await lab?.stop();
});

describe('etcd learners (atlas, cattle 1.11.3 -> 1.12.0)', () => {
  it('a recreated controller that is still a learner holds the next controller until its promotion', async () => {
    const since = new Date().toISOString();
    const mark = await timelineMark(lab);
    await lab.addFault('promotion-delayed', { node: 'talos-cp-1', seconds: 40 });
    const handle = await h.client.workflow.start(clusterUpgrade, {
      taskQueue: h.taskQueue,
      workflowId: 'talos-upgrade:atlas:etcd-learner',
      args: [
        {
          requestId: 'etcd-learner',
          cluster: 'atlas',
          talos: { to: '1.12.0' },
          strategy: 'cattle',
          nodes: ['talos-cp-1', 'talos-cp-2'],
          source: 'test',
        },
      ],
    });
    const result: ClusterUpgradeResult = await handle.result();
    expect(result.outcome).toBe('succeeded');

    const events = await eventsSince(lab, mark);
    const at = (kind: string, node: string) => {
      const found = events.filter((e) => e.kind === kind && e.node === node);
      if (found.length === 0) throw new Error(`no ${kind} of ${node} on the lab's timeline`);
      return Date.parse(found[0]?.at ?? '');
    };
    const joined = at('etcd-joined', 'talos-cp-1');
    const promoted = at('etcd-promoted', 'talos-cp-1');
    // The lab held the learner for the fault's 40 s, so the order below is the product's doing.
    expect(promoted - joined).toBeGreaterThanOrEqual(39_000);
    // talos-cp-2 leaves etcd, and its VM goes, only once talos-cp-1 votes again.
    expect(at('etcd-left', 'talos-cp-2')).toBeGreaterThan(promoted);
    expect(at('vm-destroyed', 'talos-cp-2')).toBeGreaterThan(promoted);
    // And talos-cp-2's own learner was promoted before its run ended.
    expect(at('etcd-promoted', 'talos-cp-2')).toBeGreaterThan(at('etcd-joined', 'talos-cp-2'));
    expect((await labReport(lab)).violations.filter((v) => v.at >= since)).toEqual([]);
  }, 600_000);
});
