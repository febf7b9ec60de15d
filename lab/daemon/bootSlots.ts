import type { BootImage, BootLabel, BootSlots, LabNode } from '../state/labState.js';
import type { LabCluster } from './labCluster.js';

/**
 * Talos's two boot slots as GRUB keeps them, read at v1.13.8 (the same since 1.11):
 *
 * - An install on an installed node flips grub.cfg's *default* entry, not the slot the node runs:
 *   the new kernel goes into the other label, which becomes the default, and the old default becomes
 *   the fallback (internal/app/machined/pkg/runtime/v1alpha1/bootloader/grub/boot_label.go:27-43,
 *   grub/upgrade.go:62-67, grub/install.go:223-283). So a second install before a reboot writes over
 *   the slot the node runs from, and the first install becomes the only fallback. systemd-boot does
 *   the same with its UKIs (sdboot/sdboot.go:338-365 keeps only the next-boot default).
 * - The installer writes the old default's label into META's Upgrade tag (cmd/installer/pkg/install/
 *   install.go:407-411). When the new boot fails in machined, it flips grub.cfg back to that label
 *   and reboots (internal/app/machined/revert.go:64-94, grub/revert.go:53-66): a failed boot costs
 *   two reboots. The tag is dropped once the node is running and Ready (controllers/runtime/
 *   drop_upgrade_fallback.go:74-92), here at the boot itself.
 * - If the slot it reverts to holds the same broken version, that boot fails too: a boot loop, the
 *   node never answers again.
 */

/** The node's slots; a node from before this model runs slot A, its only entry. */
export function slotsOf(node: LabNode): BootSlots {
  node.slots ??= oneSlot(node);
  return node.slots;
}

/** Slot A holding what the node runs, as a fresh install leaves it. */
function oneSlot(node: LabNode): BootSlots {
  return { running: 'A', default: 'A', A: runningImage(node) };
}

/** What the node runs now: its version, schematic and the kernel arguments it booted with. */
function runningImage(node: LabNode): BootImage {
  return { version: node.talosVersion, schematic: node.schematic, kernelArgs: node.kernelArgs ?? [] };
}

const flip = (label: BootLabel): BootLabel => (label === 'A' ? 'B' : 'A');

const sameTalos = (a: BootImage | undefined, b: BootImage | undefined): boolean =>
  !!a && !!b && a.version === b.version && a.schematic === b.schematic;

/** A new disk (a VM Terraform created): one slot, the version it was created at. */
export function freshSlots(node: LabNode): void {
  node.slots = oneSlot(node);
}

/**
 * An installer run on a running node: it writes the label after grub.cfg's default. Writing another
 * Talos over the slot the node runs from is a violation when the fallback (the old default) does not
 * hold what the node runs either: a new version that fails to boot then has nothing to fall back to.
 */
export function installIntoNextSlot(lab: LabCluster, node: LabNode, image: BootImage): BootLabel {
  const slots = slotsOf(node);
  const target = flip(slots.default);
  const running = runningImage(node);
  const fallback = slots[slots.default];
  if (target === slots.running && !sameTalos(image, running) && !sameTalos(fallback, running))
    lab.violate(
      'boot-fallback',
      `${node.name}: an install of Talos ${image.version} wrote over slot ${target}, which runs Talos ${node.talosVersion}; its fallback is now Talos ${fallback?.version ?? 'nothing'}`,
      'event',
    );
  slots[target] = image;
  slots.upgradeTag = slots.default;
  slots.default = target;
  return target;
}

/** The Talos the next boot starts when it is not the one running (an install waiting for a reboot). */
export function pendingBoot(node: LabNode): BootImage | undefined {
  const slots = slotsOf(node);
  const next = slots[slots.default];
  return next && !sameTalos(next, runningImage(node)) ? next : undefined;
}

function bootFrom(node: LabNode, label: BootLabel): void {
  const slots = slotsOf(node);
  const image = slots[label];
  if (!image) return;
  slots.running = label;
  slots.default = label;
  delete slots.upgradeTag;
  node.talosVersion = image.version;
  node.schematic = image.schematic;
  node.kernelArgs = image.kernelArgs;
}

/**
 * A boot: grub.cfg's default starts. Under `boot-fails` the Talos it starts fails (a bad image), and
 * machined reverts to the Upgrade tag's label; when that slot holds the same Talos, the node loops
 * and never comes up.
 */
export function bootDefault(lab: LabCluster, node: LabNode): 'booted' | 'fell-back' | 'boot-loop' {
  const slots = slotsOf(node);
  const next = slots[slots.default];
  if (!next || sameTalos(next, runningImage(node)) || !lab.fire('boot-fails', node)) {
    bootFrom(node, slots.default);
    return 'booted';
  }
  const back = slots.upgradeTag;
  const fallback = back ? slots[back] : undefined;
  if (!back || !fallback || sameTalos(fallback, next)) {
    lab.record(
      'boot-loop',
      node.name,
      `Talos ${next.version} failed to boot and its fallback ${back ? `slot ${back} holds the same Talos` : 'is gone'}: the node reboots forever`,
    );
    return 'boot-loop';
  }
  bootFrom(node, back);
  lab.record(
    'upgrade-fell-back',
    node.name,
    `Talos ${next.version} failed to boot; back on ${node.talosVersion}`,
  );
  return 'fell-back';
}
