import type { LabNode } from '../state/labState.js';
import { compareVersions } from '../../src/domain/index.js';

/** One link as the lab Talos API server turns it into a LinkStatus resource. */
export interface LabLink {
  id: string;
  index: number;
  type: 'ether' | 'loopback';
  kind: '' | 'vlan';
  linkIndex: number;
  hardwareAddr: string;
  mtu: number;
  vlanId?: number;
  driver?: string;
  busPath?: string;
}

function mac(node: LabNode, index: number): string {
  const bytes = [...`${node.name}${index}`].reduce((acc, ch) => (acc * 31 + ch.charCodeAt(0)) >>> 0, 7);
  return ['bc', '24', '11', (bytes >>> 16) & 0xff, (bytes >>> 8) & 0xff, (bytes + index) & 0xff]
    .map((b) => (typeof b === 'number' ? b.toString(16).padStart(2, '0') : b))
    .join(':');
}

/**
 * The node's links: lo, each NIC, and a VLAN link on each tagged NIC. Up to Talos 1.11 a VLAN link
 * is named `<nic>.<id>`; 1.12's VLANConfig documents name it as the user wishes (the lab:
 * `vlan<id>`), so only `linkIndex` says which NIC carries it.
 */
export function linkStatuses(node: LabNode): LabLink[] {
  const links: LabLink[] = [
    {
      id: 'lo',
      index: 1,
      type: 'loopback',
      kind: '',
      linkIndex: 0,
      hardwareAddr: '00:00:00:00:00:00',
      mtu: 65536,
    },
  ];
  node.nics.forEach((nic, i) => {
    const index = i + 2;
    links.push({
      id: nic.name,
      index,
      type: 'ether',
      kind: '',
      linkIndex: 0,
      hardwareAddr: mac(node, index),
      mtu: 1500,
      driver: 'virtio_net',
      busPath: `0000:00:${(0x12 + i).toString(16)}.0`,
    });
    if (nic.vlan !== 'native') {
      links.push({
        id: compareVersions(node.talosVersion, '1.12.0') >= 0 ? `vlan${nic.vlan}` : `${nic.name}.${nic.vlan}`,
        index: 100 + index,
        type: 'ether',
        kind: 'vlan',
        linkIndex: index,
        hardwareAddr: mac(node, index),
        mtu: 1500,
        vlanId: nic.vlan,
      });
    }
  });
  return links;
}
