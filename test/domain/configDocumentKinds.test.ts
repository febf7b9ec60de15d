import { describe, expect, it } from '@jest/globals';
import { parseAllDocuments } from 'yaml';
import { describeUnknownDocuments, documentsUnknownTo } from '../../src/domain/index.js';

const docs = (text: string) => parseAllDocuments(text).map((doc) => doc.toJS() as unknown);

describe('the config documents a Talos version cannot decode', () => {
  const config = docs(`version: v1alpha1
machine:
  type: worker
---
apiVersion: v1alpha1
kind: VLANConfig
name: eth1.62
vlanID: 62
parent: eth1
---
apiVersion: v1alpha1
kind: VLANConfig
name: eth2.81
vlanID: 81
parent: eth2
---
apiVersion: v1alpha1
kind: VRFConfig
name: vrf-blue
---
apiVersion: v1alpha1
kind: ExtensionServiceConfig
name: tailscale
`);

  it('names each kind once, with the minor that first knows it; 1.11 kinds and v1alpha1 pass everywhere', () => {
    expect(documentsUnknownTo('1.11.3', config)).toEqual([
      { kind: 'VLANConfig', apiVersion: 'v1alpha1', since: '1.12' },
      { kind: 'VRFConfig', apiVersion: 'v1alpha1', since: '1.13' },
    ]);
    expect(documentsUnknownTo('1.12.5', config)).toEqual([
      { kind: 'VRFConfig', apiVersion: 'v1alpha1', since: '1.13' },
    ]);
    expect(documentsUnknownTo('1.13.0', config)).toEqual([]);
    // A later Talos keeps every kind; kinds the table does not know are not judged.
    expect(
      documentsUnknownTo('1.14.1', [...config, { apiVersion: 'v1alpha1', kind: 'FutureConfig' }]),
    ).toEqual([]);
  });

  it('says what it found in words', () => {
    expect(describeUnknownDocuments(documentsUnknownTo('1.11.3', config))).toBe(
      'VLANConfig (Talos 1.12 and later), VRFConfig (Talos 1.13 and later)',
    );
  });
});
