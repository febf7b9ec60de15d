import { describe, expect, it } from '@jest/globals';
import { etcdBelowFloor, unmetPrerequisites } from '../../src/domain/index.js';

const gpu = { gpuNodes: ['k8s-work-4'], acknowledged: [] };

describe('release prerequisites of a run', () => {
  it('a hop onto 1.13 with GPU nodes needs the NVIDIA CDI switch, named with the nodes and the flag', () => {
    const unmet = unmetPrerequisites([{ from: '1.12.9', to: '1.13.0' }], gpu);
    expect(unmet.map((u) => u.id)).toEqual(['talos-1.13-nvidia-cdi']);
    expect(unmet[0]?.message).toMatch(/k8s-work-4.*CDI.*policy\.acknowledged/);
  });

  it('is met once acknowledged, without GPU nodes, or by hops that do not cross 1.13', () => {
    const hop = [{ from: '1.12.9', to: '1.13.0' }];
    expect(unmetPrerequisites(hop, { ...gpu, acknowledged: ['talos-1.13-nvidia-cdi'] })).toEqual([]);
    expect(unmetPrerequisites(hop, { gpuNodes: [], acknowledged: [] })).toEqual([]);
    expect(unmetPrerequisites([{ from: '1.13.0', to: '1.13.8' }], gpu)).toEqual([]);
    expect(unmetPrerequisites([{ from: '1.11.3', to: '1.12.9' }], gpu)).toEqual([]);
  });
});

describe("the etcd a hop's target runs", () => {
  const hops = [
    { from: '1.12.9', to: '1.13.8' },
    { from: '1.13.8', to: '1.14.1' },
  ];

  it('refuses a hop onto 1.14 while a controller runs a pinned etcd older than 3.6, naming it and what to do', () => {
    const why = etcdBelowFloor(hops, { 'k8s-ctrl-1': '3.6.12', 'k8s-ctrl-2': '3.5.21' });
    expect(why).toMatch(/^Talos 1\.14 runs etcd 3\.6 and later only, and k8s-ctrl-2 runs etcd 3\.5\.21: /);
    expect(why).toContain('cluster.etcd.image');
    expect(why).toContain('Nothing was touched.');
    expect(why).not.toContain('k8s-ctrl-1');
  });

  it('passes 3.6 and 3.7 members, hops below 1.14, and members whose version was not read', () => {
    expect(etcdBelowFloor(hops, { 'k8s-ctrl-1': '3.6.12', 'k8s-ctrl-2': '3.7.1' })).toBeUndefined();
    expect(etcdBelowFloor([{ from: '1.11.3', to: '1.13.8' }], { 'k8s-ctrl-1': '3.5.21' })).toBeUndefined();
    // The floor holds for the releases after 1.14 too.
    expect(etcdBelowFloor([{ from: '1.14.1', to: '1.15.0' }], { 'k8s-ctrl-1': '3.5.21' })).toMatch(
      /^Talos 1\.15 runs etcd 3\.6 and later only/,
    );
    expect(etcdBelowFloor(hops, {})).toBeUndefined();
    expect(etcdBelowFloor(hops, { 'k8s-ctrl-1': 'unknown' })).toBeUndefined();
  });
});
