import { describe, expect, it } from '@jest/globals';
import { unmetPrerequisites } from '../../src/domain/index.js';

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
