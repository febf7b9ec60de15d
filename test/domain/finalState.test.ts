import { describe, expect, it } from '@jest/globals';
import { finalStateProblems, type FinalStateView } from '../../src/domain/index.js';

const ok = { ready: true, cordoned: false, kubelet: 'v1.35.0' };
const whole: FinalStateView = {
  talos: '1.13.8',
  kubernetes: '1.35.0',
  nodes: [
    { name: 'cp-1', talos: '1.13.8', kubernetes: ok },
    { name: 'wk-1', talos: '1.13.8', kubernetes: ok },
  ],
  controllers: ['cp-1', 'cp-2', 'cp-3'],
  etcd: { voters: ['cp-1', 'cp-2', 'cp-3'], learners: [], unhealthy: [] },
};

describe('finalStateProblems: what a run should have left', () => {
  it('nothing to say about a cluster the run left whole', () => {
    expect(finalStateProblems(whole)).toEqual([]);
    // No Kubernetes step: the kubelet is not compared.
    expect(
      finalStateProblems({
        ...whole,
        kubernetes: undefined,
        nodes: [{ name: 'wk-1', talos: '1.13.8', kubernetes: { ...ok, kubelet: 'v1.34.1' } }],
      }),
    ).toEqual([]);
  });

  it.each<[string, Partial<FinalStateView>, string[]]>([
    [
      'a node left behind on the old version, one that did not answer',
      {
        nodes: [
          { name: 'cp-1', talos: '1.13.4', kubernetes: ok },
          { name: 'wk-1', kubernetes: ok },
        ],
      },
      ['cp-1 runs Talos 1.13.4, older than 1.13.8', 'wk-1 did not answer for its Talos version'],
    ],
    [
      'a node NotReady and cordoned, a kubelet behind, a Node object gone',
      {
        nodes: [
          { name: 'cp-1', talos: '1.13.8', kubernetes: { ready: false, cordoned: true, kubelet: 'v1.34.1' } },
          { name: 'wk-1', talos: '1.13.8' },
        ],
      },
      [
        'cp-1 is not Ready',
        'cp-1 is still cordoned',
        "cp-1's kubelet is 1.34.1, older than 1.35.0",
        'wk-1 has no Node object in Kubernetes',
      ],
    ],
    [
      'a learner, a controller missing from etcd, a member of no controller, an unhealthy one',
      {
        etcd: {
          voters: ['cp-1', 'old-cp.lab.internal'],
          learners: ['cp-2'],
          unhealthy: ['cp-1'],
        },
      },
      [
        'cp-2 is an etcd learner, without a vote',
        'cp-3 is not an etcd member',
        'etcd has a member that is no controller of the inventory: old-cp.lab.internal',
        'etcd member cp-1 is unhealthy',
      ],
    ],
    [
      'nodes past the target (a run planned from the oldest node), etcd that did not answer',
      {
        nodes: [{ name: 'cp-1', talos: '1.13.9', kubernetes: { ...ok, kubelet: 'v1.35.2' } }],
        etcd: { voters: [], learners: [], unhealthy: ['cp-1', 'cp-2', 'cp-3'] },
      },
      ["etcd's members could not be read: no controller's etcd answered"],
    ],
  ])('%s', (_what, change, expected) => {
    expect(finalStateProblems({ ...whole, ...change })).toEqual(expected);
  });
});
