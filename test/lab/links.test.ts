import { describe, expect, it } from '@jest/globals';
import { linkStatuses, nicSummary } from '../../lab/talos/links.js';
import type { LabNode } from '../../lab/state/labState.js';

const node = {
  name: 'k8s-work-5',
  talosVersion: '1.12.0',
  nics: [
    { name: 'eth0', vlan: 'native' },
    { name: 'eth1', vlan: 62 },
  ],
} as unknown as LabNode;

describe("the lab's links come from the VM's NICs and the machine config's VLANs", () => {
  it('names v1alpha1 VLANs <nic>.<id> and VLANConfig ones by their name; none without a config', () => {
    const config = `machine:
  network:
    interfaces:
      - interface: eth1
        vlans: [{ vlanId: 62 }]
      - interface: eth2
        vlans: [{ vlanId: 81 }]
---
apiVersion: v1alpha1
kind: VLANConfig
name: iot
vlanID: 63
parent: eth1
`;
    const links = linkStatuses(node, config);
    const vlans = links.filter((l) => l.kind === 'vlan');
    // eth2 is not on this VM: Talos skips a VLAN whose parent link is missing.
    expect(vlans.map((l) => [l.id, l.vlanId, l.linkIndex])).toEqual([
      ['eth1.62', 62, 3],
      ['iot', 63, 3],
    ]);
    expect(nicSummary(links)).toBe('eth0,eth1.62,iot');
    expect(linkStatuses(node, undefined).filter((l) => l.kind === 'vlan')).toEqual([]);
    expect(nicSummary(linkStatuses(node, undefined))).toBe('eth0,eth1');
  });
});
