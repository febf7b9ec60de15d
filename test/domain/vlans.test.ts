import { describe, expect, it } from '@jest/globals';
import { parseAllDocuments } from 'yaml';
import {
  configVlans,
  describeUndefinedVlans,
  kernelArgVlans,
  undefinedVlans,
  type Nic,
} from '../../src/domain/index.js';

const docs = (text: string) => parseAllDocuments(text).map((doc) => doc.toJS() as unknown);
const nics: Nic[] = [
  { name: 'eth0', vlan: 'native' },
  { name: 'eth1', vlan: 62 },
  { name: 'eth2', vlan: 81 },
];

describe('the VLANs a machine config defines, against the NICs a node has', () => {
  it('reads v1alpha1 devices by interface or selector, VLANConfig documents, and JSON patches', () => {
    const config = docs(`version: v1alpha1
machine:
  network:
    interfaces:
      - interface: eth1
        vlans: [{ vlanId: 62 }]
      - deviceSelector: { hardwareAddr: "bc:24:11:*" }
        vlans: [{ vlanId: 70, addresses: [10.70.0.5/24] }]
---
apiVersion: v1alpha1
kind: VLANConfig
name: dmz
vlanID: 81
parent: eth2
`);
    expect(configVlans(config)).toEqual([
      { vlan: 62, parent: 'eth1' },
      { vlan: 70 },
      { vlan: 81, parent: 'eth2' },
    ]);
    const jsonPatch = docs(`- op: add
  path: /machine/network/interfaces/-
  value: { interface: eth1, vlans: [{ vlanId: 62 }] }
`);
    expect(configVlans(jsonPatch)).toEqual([{ vlan: 62, parent: 'eth1' }]);
    expect(configVlans(docs('machine: { network: {} }'))).toEqual([]);
    expect(undefinedVlans(nics, configVlans(config))).toEqual([]);
  });

  it('names each VLAN no config defines, on its parent; a selector stands for any parent', () => {
    expect(undefinedVlans(nics, [{ vlan: 62, parent: 'eth2' }])).toEqual(nics.slice(1));
    expect(undefinedVlans(nics, [{ vlan: 62 }, { vlan: 81, parent: 'eth2' }])).toEqual([]);
    // A vlan= kernel argument creates one too.
    expect(kernelArgVlans(['vlan=eth2.81:eth2', 'mitigations=off', 'vlan=broken'])).toEqual([
      { vlan: 81, parent: 'eth2' },
    ]);
    const sources = ['secrets/worker.yaml', 'patches/all.yaml'];
    const message = describeUndefinedVlans([
      { node: 'k8s-work-5', nics: nics.slice(1), sources },
      { node: 'k8s-work-6', nics: nics.slice(1), sources },
      { node: 'k8s-work-7', nics: nics.slice(2), sources },
    ]);
    expect(message).toMatch(
      /none of these: k8s-work-5, k8s-work-6: VLAN 62 on eth1 and VLAN 81 on eth2 \(in none of secrets\/worker\.yaml, patches\/all\.yaml\); k8s-work-7: VLAN 81 on eth2 \(/,
    );
    expect(message).toMatch(/No VM is destroyed until then$/);
  });
});
