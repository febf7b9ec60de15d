import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { describeUnknownDocuments, documentsUnknownTo, KIND_SINCE } from '../../src/domain/index.js';

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

describe("the lab plays the product's table of document kinds", () => {
  it("lists each kind with the same first minor in the lab's Go table", () => {
    const go = readFileSync(
      new URL('../../lab/talos-api/internal/machine/documentKinds.go', import.meta.url),
      'utf8',
    );
    const lab: Record<string, string> = Object.fromEntries(
      [...go.matchAll(/"(\w+)": \{(\d+), (\d+)\}/g)].map((m): [string, string] => [
        m[1] ?? '',
        `${m[2]}.${m[3]}`,
      ]),
    );
    expect(Object.keys(lab).length).toBeGreaterThan(70);
    expect(lab).toEqual(KIND_SINCE);
  });

  it("knows Talos 1.14's kinds: a 1.13 node cannot decode a KubeletConfig, a 1.14 node can", () => {
    const patch = docs('apiVersion: v1alpha1\nkind: KubeletConfig\n');
    expect(documentsUnknownTo('1.13.9', patch).map((d) => d.kind)).toEqual(['KubeletConfig']);
    expect(documentsUnknownTo('1.14.1', patch)).toEqual([]);
  });
});
