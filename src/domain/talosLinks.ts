/** One LinkStatus as `talosctl get links -o json` prints it (network.LinkStatus). */
export interface TalosLink {
  metadata: { id: string };
  spec: { type: string; kind: string; index: number; linkIndex?: number; vlan?: { vlanID: number } };
}

/** A node's NICs as Talos reports them: physical links by name, and the VLAN ids on each. */
export interface LinkNics {
  /** Physical Ethernet links (no kind: not a VLAN, bond or bridge), in Talos's order. */
  physical: string[];
  /** Each physical link's VLAN ids, from the VLAN links whose parent it is. */
  vlans: Map<string, number[]>;
  /** Every Ethernet link's name, physical or not, for messages. */
  ether: string[];
}

export function linkNics(links: TalosLink[]): LinkNics {
  const physicalLinks = links.filter((l) => l.spec.type === 'ether' && !l.spec.kind);
  // A VLAN link names its parent by index: from Talos 1.12 its own name can be anything.
  const nameByIndex = new Map(physicalLinks.map((l) => [l.spec.index, l.metadata.id]));
  const vlans = new Map<string, number[]>();
  for (const link of links) {
    const parent = nameByIndex.get(link.spec.linkIndex ?? -1);
    const id = link.spec.vlan?.vlanID;
    if (link.spec.kind !== 'vlan' || parent === undefined || id === undefined) continue;
    vlans.set(parent, [...(vlans.get(parent) ?? []), id]);
  }
  return {
    physical: physicalLinks.map((l) => l.metadata.id),
    vlans,
    ether: links.filter((l) => l.spec.type === 'ether').map((l) => l.metadata.id),
  };
}
