import { createServer } from 'node:net';
import { parseDocument } from 'yaml';

/** Talos's API port: every lab node listens on it at its own loopback address, as a real node does. */
export const TALOS_PORT = 50000;

/** A /24 of the loopback range that no other lab on this machine uses: 127.<a>.<b>.0/24. */
export interface AddressBlock {
  prefix: string;
}

function canListen(host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host, port: TALOS_PORT, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/**
 * Finds `count` free blocks: a lab's nodes answer on 127.a.b.11 and up, so two labs (parallel test
 * suites, a demo beside a test run) never share an address, and `talosctl --insecure` can dial a
 * node directly as it would on a real network.
 */
export async function allocateBlocks(count: number, nodesPerBlock: number): Promise<AddressBlock[]> {
  const blocks: AddressBlock[] = [];
  const tried = new Set<string>();
  while (blocks.length < count) {
    if (tried.size > 5000) throw new Error('no free loopback block for the lab: too many labs running?');
    const prefix = `127.${100 + Math.floor(Math.random() * 150)}.${Math.floor(Math.random() * 256)}`;
    if (tried.has(prefix)) continue;
    tried.add(prefix);
    const hosts = Array.from({ length: nodesPerBlock }, (_, i) => nodeAddress({ prefix }, i));
    if ((await Promise.all(hosts.map(canListen))).every(Boolean)) blocks.push({ prefix });
  }
  return blocks;
}

export function nodeAddress(block: AddressBlock, index: number): string {
  return `${block.prefix}.${11 + index}`;
}

/**
 * A preset moved onto a loopback block: node IPs, Talos endpoints, network and VIP.
 * Everything else (names, NICs, Terraform addresses) stays as the preset says.
 */
export function onLoopback(presetText: string, block: AddressBlock): string {
  const doc = parseDocument(presetText);
  const nodes = (doc.getIn(['nodes']) as { items: unknown[] } | undefined)?.items ?? [];
  const controlPlane: string[] = [];
  nodes.forEach((_, i) => {
    const ip = nodeAddress(block, i);
    doc.setIn(['nodes', i, 'ip'], ip);
    if (doc.getIn(['nodes', i, 'role']) === 'controlplane') controlPlane.push(ip);
  });
  doc.setIn(['cluster', 'talosEndpoints'], doc.createNode(controlPlane));
  if (doc.getIn(['cluster', 'network']) !== undefined)
    doc.setIn(['cluster', 'network'], `${block.prefix}.0/24`);
  if (doc.getIn(['cluster', 'vip']) !== undefined) doc.setIn(['cluster', 'vip'], `${block.prefix}.250`);
  return doc.toString();
}
