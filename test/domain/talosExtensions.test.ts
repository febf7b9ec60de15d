import { describe, expect, it } from '@jest/globals';
import { describeExtensionLosses, imageExtensions, lostExtensions } from '../../src/domain/index.js';

const NVIDIA = 'b'.repeat(64);
const status = (name: string, version: string) => ({
  spec: { image: `${name}.sqsh`, metadata: { name, version } },
});

describe("a node's extensions, as `talosctl get extensions` lists them", () => {
  it("the factory's `schematic` extension is the schematic the node runs, not one of its extensions", () => {
    expect(
      imageExtensions([
        status('qemu-guest-agent', '10.0.2'),
        status('nonfree-kmod-nvidia-production', '570.172.08-v1.11.3'),
        status('schematic', NVIDIA),
        // What Talos's imager adds for the extensions' kernel modules: no schematic lists it.
        status('modules.dep', '6.12.57-talos'),
      ]),
    ).toEqual({
      runningSchematic: NVIDIA,
      extensions: ['qemu-guest-agent', 'nonfree-kmod-nvidia-production'],
    });
    // An image the factory did not build: no schematic to tell; a status without a name counts for nothing.
    expect(imageExtensions([status('qemu-guest-agent', '10.0.2'), { spec: {} }])).toEqual({
      extensions: ['qemu-guest-agent'],
    });
  });

  it("lost: what the node loads and the schematic's images would not; the schematic names them with siderolabs/", () => {
    const plain = ['siderolabs/qemu-guest-agent', 'siderolabs/util-linux-tools'];
    expect(lostExtensions(['qemu-guest-agent', 'nonfree-kmod-nvidia-production'], plain)).toEqual([
      'nonfree-kmod-nvidia-production',
    ]);
    // Extensions the schematic adds are a change on purpose, not a loss.
    expect(lostExtensions(['qemu-guest-agent'], plain)).toEqual([]);
    expect(lostExtensions([], [])).toEqual([]);
  });

  it('the refusal names each node, what it would lose and the fix, and says nothing was touched', () => {
    const text = describeExtensionLosses([
      {
        node: 'wk-4',
        runs: 'bbbbbbbbbbbb…',
        installs: 'aaaaaaaaaaaa…',
        lost: ['nonfree-kmod-nvidia-production'],
      },
    ]);
    expect(text).toMatch(
      /wk-4 loads nonfree-kmod-nvidia-production \(it runs schematic bbbbbbbbbbbb…\), which schematic aaaaaaaaaaaa… has not/,
    );
    expect(text).toMatch(/nodes\[\]\.schematic/);
    expect(text).toMatch(/talosctl upgrade --image/);
    expect(text).toMatch(/nothing was touched$/);
    // An image built without the factory: its extensions are lost to any factory installer, said so.
    expect(
      describeExtensionLosses([{ node: 'wk-5', installs: 'aaaaaaaaaaaa…', lost: ['my-driver'] }]),
    ).toMatch(
      /wk-5 loads my-driver \(its image is no Image Factory build: the factory installs only what a schematic lists\)/,
    );
  });
});
