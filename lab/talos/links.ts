import type { LabNode } from '../state/labState.js';
import { parseAllDocuments } from 'yaml';

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

/** A VLAN link a machine config asks for: its name, id and parent link. */
interface ConfiguredVlan {
  name: string;
  vlan: number;
  parent: string;
}

/**
 * The VLAN links a node's machine config defines, named as Talos names them (read at v1.11.3, v1.12.5
 * and v1.13.8): a v1alpha1 device's `vlans[]` become `<interface>.<vlanId>`
 * (nethelpers.VLANLinkName, internal/app/machined/pkg/controllers/network/link_config.go:389 at
 * v1.11.3, :376 at v1.12.5, :375 at v1.13.8), a VLANConfig document (1.12 and later) the link its
 * `name` says (link_config.go:418). A node in maintenance mode has no config, so no VLAN.
 */
function configuredVlans(config: string | undefined): ConfiguredVlan[] {
  if (!config) return [];
  const found: ConfiguredVlan[] = [];
  for (const doc of parseAllDocuments(config)) {
    const value = doc.toJS() as {
      kind?: string;
      name?: string;
      vlanID?: number;
      parent?: string;
      machine?: {
        network?: { interfaces?: Array<{ interface?: string; vlans?: Array<{ vlanId?: number }> }> };
      };
    } | null;
    if (value?.kind === 'VLANConfig' && value.name && value.parent && typeof value.vlanID === 'number')
      found.push({ name: value.name, vlan: value.vlanID, parent: value.parent });
    for (const device of value?.machine?.network?.interfaces ?? [])
      for (const vlan of device.vlans ?? [])
        if (device.interface && typeof vlan.vlanId === 'number')
          found.push({
            name: `${device.interface}.${vlan.vlanId}`,
            vlan: vlan.vlanId,
            parent: device.interface,
          });
  }
  return found;
}

/**
 * The node's links: lo, each NIC the VM has, and a VLAN link for each VLAN its machine config defines
 * on a NIC it has. A VLAN whose parent link is missing is skipped, without an error (link_spec.go:335-338
 * at v1.11.3, :337-340 at v1.12.5, :363-366 at v1.13.8): a VM without the NIC shows no VLAN.
 */
export function linkStatuses(node: LabNode, config: string | undefined): LabLink[] {
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
  const vlans = configuredVlans(config);
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
    vlans
      .filter((vlan) => vlan.parent === nic.name)
      .forEach((vlan, j) =>
        links.push({
          id: vlan.name,
          index: 100 + index * 10 + j,
          type: 'ether',
          kind: 'vlan',
          linkIndex: index,
          hardwareAddr: mac(node, index),
          mtu: 1500,
          vlanId: vlan.vlan,
        }),
      );
  });
  return links;
}

/** `eth0,eth1.62,eth2.81`: each NIC, or the VLAN links on it. */
export function nicSummary(links: readonly LabLink[]): string {
  return links
    .filter((link) => link.type === 'ether' && link.kind === '')
    .map(
      (nic) =>
        links
          .filter((l) => l.kind === 'vlan' && l.linkIndex === nic.index)
          .map((l) => l.id)
          .join(',') || nic.id,
    )
    .join(',');
}
