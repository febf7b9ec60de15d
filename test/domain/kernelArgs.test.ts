import { describe, expect, it } from '@jest/globals';
import {
  checkedKernelArgs,
  describeRebuildKernelArgGaps,
  rebuildKernelArgGaps,
  type InventoryNode,
} from '../../src/domain/index.js';

const node = (name: string, role: 'controlplane' | 'worker', kernelArgs?: string[]) =>
  ({ name, role, ip: '10.0.0.1', nics: [], ...(kernelArgs ? { kernelArgs } : {}) }) as InventoryNode;

const BASE = 'a'.repeat(64);
const GPU = 'c'.repeat(64);

describe('the kernel arguments a rebuilt VM boots: its schematic', () => {
  const inventory = { kernelArgs: { worker: ['mitigations=off'] } };
  const schematics = new Map([
    [BASE, ['mitigations=off']],
    [GPU, ['mitigations=off', 'i915.enable_guc=3']],
    ['d'.repeat(64), []],
  ]);

  it.each([
    ['a role argument the schematic carries', node('w1', 'worker'), BASE, []],
    ['a node argument its own schematic carries', node('w2', 'worker', ['i915.enable_guc=3']), GPU, []],
    [
      'a node argument only its config carries',
      node('w3', 'worker', ['i915.enable_guc=3']),
      BASE,
      ['i915.enable_guc=3'],
    ],
    ['a controller without arguments', node('c1', 'controlplane'), BASE, []],
    ['a schematic with no arguments', node('w4', 'worker'), 'd'.repeat(64), ['mitigations=off']],
    [
      "Talos's own defaults and the platform's console, repeated in a config",
      node('w5', 'worker', ['console=ttyS0', 'init_on_alloc=1', 'talos.platform=nocloud']),
      BASE,
      [],
    ],
  ])('%s', (_, n, schematic, missing) => {
    const gaps = rebuildKernelArgGaps(inventory, [{ node: n, schematic }], schematics);
    expect(gaps).toEqual(missing.length ? [{ node: n.name, schematic, missing }] : []);
  });

  it('shows only the arguments the run checks of what a schematic carries (its others may be credentials)', () => {
    const carried = ['mitigations=off', 'talos.config=https://example/?token=secret'];
    expect(checkedKernelArgs(inventory, [node('w1', 'worker')], carried)).toEqual(['mitigations=off']);
  });

  it('the refusal names each node, what it would lack and the schematic, then the ways out', () => {
    const text = describeRebuildKernelArgGaps([
      { node: 'w3', schematic: BASE, missing: ['i915.enable_guc=3'] },
    ]);
    expect(text).toContain(
      'w3 would boot without i915.enable_guc=3 (schematic aaaaaaaaaaaa… has no such extraKernelArgs)',
    );
    expect(text).toMatch(/customization\.extraKernelArgs.*--strategy pets.*No VM is destroyed until then$/);
  });
});
