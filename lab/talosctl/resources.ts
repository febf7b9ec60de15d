import { stringify } from 'yaml';
import type { LabNode } from '../state/labState.js';
import { table } from './table.js';

export interface Resource {
  node: string;
  metadata: Record<string, unknown>;
  spec: Record<string, unknown>;
}

const created = '2025-11-20T09:14:02Z';

function metadata(namespace: string, type: string, id: string, version: number) {
  return {
    namespace,
    type,
    id,
    version,
    owner: 'network.LinkStatusController',
    phase: 'running',
    created,
    updated: new Date().toISOString(),
  };
}

function mac(node: LabNode, index: number): string {
  const bytes = [...`${node.name}${index}`].reduce((acc, ch) => (acc * 31 + ch.charCodeAt(0)) >>> 0, 7);
  return ['bc', '24', '11', (bytes >>> 16) & 0xff, (bytes >>> 8) & 0xff, (bytes + index) & 0xff]
    .map((b) => (typeof b === 'number' ? b.toString(16).padStart(2, '0') : b))
    .join(':');
}

/** LinkStatus resources: lo, each NIC, and a VLAN link `<nic>.<id>` for each tagged NIC. */
export function linkStatuses(node: LabNode): Resource[] {
  const links: Resource[] = [
    {
      node: node.ip,
      metadata: metadata('network', 'LinkStatuses.net.talos.dev', 'lo', 1),
      spec: {
        index: 1,
        type: 'loopback',
        kind: '',
        hardwareAddr: '00:00:00:00:00:00',
        operationalState: 'unknown',
        linkState: true,
        mtu: 65536,
      },
    },
  ];
  node.nics.forEach((nic, i) => {
    const index = i + 2;
    links.push({
      node: node.ip,
      metadata: metadata('network', 'LinkStatuses.net.talos.dev', nic.name, 2),
      spec: {
        index,
        type: 'ether',
        kind: '',
        hardwareAddr: mac(node, index),
        operationalState: 'up',
        linkState: true,
        mtu: 1500,
        driver: 'virtio_net',
        busPath: `0000:00:${(0x12 + i).toString(16)}.0`,
      },
    });
    if (nic.vlan !== 'native') {
      links.push({
        node: node.ip,
        metadata: metadata('network', 'LinkStatuses.net.talos.dev', `${nic.name}.${nic.vlan}`, 2),
        spec: {
          index: 100 + index,
          type: 'ether',
          kind: 'vlan',
          linkIndex: index,
          hardwareAddr: mac(node, index),
          operationalState: 'up',
          linkState: true,
          mtu: 1500,
          vlan: { vlanID: nic.vlan, vlanProtocol: '802.1q' },
        },
      });
    }
  });
  return links;
}

export function machineStatus(node: LabNode, ready: boolean): Resource {
  return {
    node: node.ip,
    metadata: {
      ...metadata('runtime', 'MachineStatuses.runtime.talos.dev', 'machine', 5),
      owner: 'runtime.MachineStatusController',
    },
    spec: {
      stage:
        node.power === 'maintenance' ? 'maintenance' : node.power === 'running' ? 'running' : 'rebooting',
      status: { ready, unmetConditions: ready ? [] : [{ name: 'nodeReady', reason: 'node is not ready' }] },
    },
  };
}

/** `-o json` prints one indented object after another (a stream, not an array); `-o yaml` separates with ---. */
export function printResources(
  resources: Resource[],
  output: string,
  columns: (r: Resource) => [string[], string[]],
): string {
  if (output === 'json')
    return resources.map((r) => JSON.stringify(r, null, 4)).join('\n') + (resources.length ? '\n' : '');
  if (output === 'yaml') return resources.map((r) => stringify(r)).join('---\n');
  if (output !== 'table') throw new Error(`unknown output format "${output}"`);
  const first = resources[0];
  if (!first) return '';
  const [header] = columns(first);
  return table(
    header,
    resources.map((r) => columns(r)[1]),
  );
}

export function linkColumns(r: Resource): [string[], string[]] {
  const spec = r.spec as {
    type: string;
    kind: string;
    hardwareAddr: string;
    operationalState: string;
    linkState: boolean;
  };
  const meta = r.metadata as { namespace: string; id: string; version: number };
  return [
    ['NODE', 'NAMESPACE', 'TYPE', 'ID', 'VERSION', 'TYPE', 'KIND', 'HW ADDR', 'OPER STATE', 'LINK STATE'],
    [
      r.node,
      meta.namespace,
      'LinkStatus',
      meta.id,
      String(meta.version),
      spec.type,
      spec.kind,
      spec.hardwareAddr,
      spec.operationalState,
      String(spec.linkState),
    ],
  ];
}

export function machineStatusColumns(r: Resource): [string[], string[]] {
  const spec = r.spec as { stage: string; status: { ready: boolean } };
  const meta = r.metadata as { namespace: string; id: string; version: number };
  return [
    ['NODE', 'NAMESPACE', 'TYPE', 'ID', 'VERSION', 'STAGE', 'READY'],
    [
      r.node,
      meta.namespace,
      'MachineStatus',
      meta.id,
      String(meta.version),
      spec.stage,
      String(spec.status.ready),
    ],
  ];
}
