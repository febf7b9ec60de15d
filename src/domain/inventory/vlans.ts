import type { Nic } from './schema.js';

/** A VLAN a machine config defines: its id, and its parent link when the config names it. */
export interface ConfigVlan {
  vlan: number;
  /** Undefined when the parent is chosen by a deviceSelector: only the live machine knows its name. */
  parent?: string;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The VLANs machine config documents define, wherever they stand (a whole config, a strategic merge
 * patch, or the `value` of a JSON patch's operation: the proof reads configs with their patches applied): v1alpha1 devices (`machine.network.interfaces[]`,
 * `interface` or `deviceSelector` with `vlans[].vlanId`) and Talos 1.12's `VLANConfig` documents
 * (`vlanID` on `parent`). Talos creates a VLAN link only from these (pkg/machinery/config/types/
 * v1alpha1 Device.Vlans, types/network VLANConfig): a NIC's VLAN is not a property of the VM.
 */
export function configVlans(documents: readonly unknown[]): ConfigVlan[] {
  const found: ConfigVlan[] = [];
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) return value.forEach(walk);
    if (!isObject(value)) return;
    if (value.kind === 'VLANConfig' && typeof value.vlanID === 'number')
      found.push({
        vlan: value.vlanID,
        ...(typeof value.parent === 'string' ? { parent: value.parent } : {}),
      });
    if (Array.isArray(value.vlans) && (typeof value.interface === 'string' || isObject(value.deviceSelector)))
      for (const vlan of value.vlans)
        if (isObject(vlan) && typeof vlan.vlanId === 'number')
          found.push({
            vlan: vlan.vlanId,
            ...(typeof value.interface === 'string' ? { parent: value.interface } : {}),
          });
    Object.values(value).forEach(walk);
  };
  documents.forEach(walk);
  return found;
}

/**
 * The VLANs `vlan=<name>.<id>:<parent>` kernel arguments create (Talos's cmdline network settings,
 * the dracut form), for nodes that boot with them.
 */
export function kernelArgVlans(args: readonly string[]): ConfigVlan[] {
  return args.flatMap((arg) => {
    const found = /^vlan=[^:\s]*\.(\d+):(\S+)$/.exec(arg);
    return found ? [{ vlan: Number(found[1]), parent: found[2] ?? '' }] : [];
  });
}

/** The node's VLAN NICs (as the inventory checks them after a rebuild) that no defined VLAN gives it. */
export function undefinedVlans(nics: readonly Nic[], defined: readonly ConfigVlan[]): Nic[] {
  return nics.filter(
    (nic) =>
      nic.vlan !== 'native' &&
      !defined.some((d) => d.vlan === nic.vlan && (d.parent === undefined || d.parent === nic.name)),
  );
}

/** The refusal of a rebuild whose configs define none of some VLANs a node has: what, why, the fix. */
export function describeUndefinedVlans(
  gaps: ReadonlyArray<{ node: string; nics: readonly Nic[]; sources: readonly string[] }>,
): string {
  // Nodes that lack the same VLANs from the same files are said once (a role's workers, usually).
  const groups = new Map<string, string[]>();
  for (const gap of gaps) {
    const what = `${gap.nics.map((n) => `VLAN ${n.vlan} on ${n.name}`).join(' and ')} (in none of ${gap.sources.join(', ')})`;
    groups.set(what, [...(groups.get(what) ?? []), gap.node]);
  }
  const each = [...groups].map(([what, nodes]) => `${nodes.join(', ')}: ${what}`);
  return (
    `Talos creates a VLAN link only from its configuration (the machine config, or a vlan= kernel argument), and a rebuilt VM gets only its config file with the inventory's patches and its kernel arguments, which define none of these: ${each.join('; ')}. The new VM would come up without them, fail its NIC check and be rolled back after its VM was destroyed. ` +
    'Define them in the config file (machine.network.interfaces[].vlans, or a VLANConfig document on Talos 1.12 and later) or in a patch of policy.globalPatches, or give the node its own machineConfig. No VM is destroyed until then'
  );
}
