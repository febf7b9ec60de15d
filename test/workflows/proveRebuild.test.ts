import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ensureTools } from '../../lab/tools.js';
import { startLab, type Lab } from '../lab/labHarness.js';
import {
  eventsSince,
  labReport,
  labStatus,
  refusedUntouched as refusedUntouchedBy,
  timelineMark,
} from './labViews.js';
import { failingUpgrade, upgrade } from './runs.js';
import { startWorkflowHarness, type WorkflowHarness } from './workflowHarness.js';

/**
 * Prove before destroy (atlas, cattle 1.11.3 -> 1.12.0): a rebuild that could not be undone, or that
 * would reach past its node, is refused in pre-flight with nothing touched; a Terraform root whose
 * version variable has its own name is planned with that name, and SOPS-encrypted machine configs are
 * decrypted with the age key the inventory names (refused before anything moves without it).
 */
let lab: Lab;
let h: WorkflowHarness;
beforeAll(async () => {
  lab = await startLab('atlas', ['--max-unavailable-workers', '2']);
  h = await startWorkflowHarness(lab);
}, 900_000);
afterAll(async () => {
  await h?.stop();
  await lab?.stop();
});

/** An atlas upgrade to 1.12.0 refused in pre-flight with nothing touched. */
const refusedUntouched = (id: string, reason: RegExp) =>
  refusedUntouchedBy(lab, '1.11.3', reason, () =>
    failingUpgrade(h, 'atlas', id, { talos: { to: '1.12.0' } }),
  );

describe('a rebuild is proven before any node moves (atlas)', () => {
  it('a node whose address names every node: refused with what the plan would destroy, nothing destroyed', async () => {
    const node = h.inventory.nodes.find((n) => n.name === 'talos-wk-2');
    if (!node) throw new Error('atlas has talos-wk-2');
    const own = node.terraformAddress;
    node.terraformAddress = 'module.nodes';
    try {
      await refusedUntouched(
        'whole-module',
        /talos-cp-1: its destroy is refused, nothing was touched: talos-wk-2's address module\.nodes also covers module\.nodes\["talos-cp-1"\]: each node must name its own instance \(the plan: destroys 1/,
      );
    } finally {
      node.terraformAddress = own;
    }
  });

  it('no config source for the workers, in a worker that took the inventory anyway: refused in pre-flight', async () => {
    // validate and the worker's start refuse such an inventory (machineConfigs.worker); a worker
    // holding it regardless must still destroy nothing.
    const configs = h.inventory.machineConfigs;
    if (!configs?.worker) throw new Error('the lab names the worker config');
    const worker = configs.worker;
    delete configs.worker;
    try {
      await refusedUntouched(
        'no-worker-config',
        /talos-wk-1 has no machine config \(machineConfigs\.worker or its own machineConfig\): a recreated VM could not be configured, so none is destroyed/,
      );
    } finally {
      configs.worker = worker;
    }
  });

  it('a worker machine config Talos would refuse: refused before any VM is destroyed', async () => {
    const configs = h.inventory.machineConfigs;
    if (!configs?.worker) throw new Error('the lab names the worker config');
    const good = configs.worker;
    const broken = join(lab.dir, 'worker-broken.yaml');
    // A config whose install disk is missing: talosctl validate --mode metal refuses it.
    await writeFile(broken, (await readFile(good, 'utf8')).replace(/^( +disk: ).*$/m, '$1""'));
    configs.worker = broken;
    try {
      await refusedUntouched(
        'broken-config',
        /the machine config .*worker-broken\.yaml of talos-wk-1, talos-wk-2 is not valid/,
      );
    } finally {
      configs.worker = good;
    }
  });

  it("another machine at a new VM's address (another CA's certificate): no config sent, the node rolled back", async () => {
    await lab.addFault('foreign-certificate', { node: 'talos-cp-1' });
    const mark = await timelineMark(lab);
    const { message, result } = await failingUpgrade(h, 'atlas', 'foreign-ca', { talos: { to: '1.12.0' } });
    expect(message).toMatch(
      /talos-cp-1 \(127\.[\d.]+\) answered with a certificate the cluster's CA did not sign, and not as a Talos node in maintenance mode .*was not sent.*rolled back to a safe state/,
    );
    expect(result.nodes.map((n) => [n.node, n.outcome])).toEqual([['talos-cp-1', 'rolled-back']]);
    // The lab records every config it is sent: none reached the VM that answered with another certificate;
    // the undo's VM, created at 1.11.3 in maintenance mode, got one.
    const own = (await eventsSince(lab, mark)).filter((e) => e.node === 'talos-cp-1').map((e) => e.kind);
    const created = own.flatMap((kind, i) => (kind === 'vm-created' ? [i] : []));
    expect(created).toHaveLength(2);
    expect(own.slice(0, created[1]).filter((kind) => kind === 'config-applied')).toEqual([]);
    expect(own.slice(created[1]).filter((kind) => kind === 'config-applied')).toEqual(['config-applied']);
    const rows = await labStatus(lab);
    expect(
      rows.every((row) => row.vm === 'running' && row.ready && !row.cordoned && row.talos === '1.11.3'),
    ).toBe(true);
    expect((await labReport(lab)).violations).toEqual([]);
  }, 600_000);

  it('SOPS-encrypted machine configs without their age key: refused before any VM is destroyed', async () => {
    await encryptMachineConfigs();
    const key = h.inventory.machineConfigs?.sopsAgeKey;
    if (!h.inventory.machineConfigs || !key) throw new Error('encryptMachineConfigs names the key');
    delete h.inventory.machineConfigs.sopsAgeKey;
    try {
      await refusedUntouched(
        'sops-without-key',
        /the machine config .*controlplane\.sops\.yaml is SOPS-encrypted and sops could not decrypt it: .*machineConfigs\.sopsAgeKey/s,
      );
    } finally {
      h.inventory.machineConfigs.sopsAgeKey = key;
    }
  });

  it('a Terraform root that names its version variable prod_talos_version, with SOPS-encrypted configs, upgrades', async () => {
    const root = join(lab.dir, 'repo', 'terraform');
    for (const file of ['main.tf', 'variables.tf']) {
      const path = join(root, file);
      const text = await readFile(path, 'utf8');
      await writeFile(
        path,
        text
          .replace('variable "talos_version"', 'variable "prod_talos_version"')
          .replaceAll('var.talos_version', 'var.prod_talos_version'),
      );
    }
    h.inventory.versions.variables.talos = 'prod_talos_version';
    // The configs encrypted by the test before, decrypted with the key the inventory names.
    expect(h.inventory.machineConfigs?.controlplane).toMatch(/\.sops\.yaml$/);
    const before = new Map((await labReport(lab)).vms.map((vm) => [vm.node, vm]));
    const result = await upgrade(h, 'atlas', 'renamed-variable', { talos: { to: '1.12.0' } });
    expect(result.outcome).toBe('succeeded');
    const report = await labReport(lab);
    expect(report.violations).toEqual([]);
    // Each VM destroyed and created once more, at the version the renamed variable carried.
    expect(
      report.vms.map((vm) => [
        vm.node,
        vm.talosVersion,
        vm.destroyed - (before.get(vm.node)?.destroyed ?? 0),
        vm.created - (before.get(vm.node)?.created ?? 0),
      ]),
    ).toEqual(
      ['talos-cp-1', 'talos-cp-2', 'talos-cp-3', 'talos-wk-1', 'talos-wk-2'].map((n) => [n, '1.12.0', 1, 1]),
    );
  }, 600_000);
});

/**
 * Encrypts the lab's machine configs with sops for a new age key, as a user keeping them in git would,
 * and points the inventory at the encrypted copies and the key file (once).
 */
async function encryptMachineConfigs(): Promise<void> {
  const configs = h.inventory.machineConfigs;
  if (!configs?.worker) throw new Error('the lab names both machine configs');
  if (configs.sopsAgeKey) return;
  const run = promisify(execFile);
  const tools = await ensureTools('sops');
  const keyFile = join(lab.dir, 'age.key');
  await run(tools['age-keygen'], ['-o', keyFile]);
  const recipient = (await run(tools['age-keygen'], ['-y', keyFile])).stdout.trim();
  for (const role of ['controlplane', 'worker'] as const) {
    const plain = configs[role] ?? '';
    const encrypted = join(lab.dir, `${role}.sops.yaml`);
    await run(tools.sops, ['--encrypt', '--age', recipient, '--output', encrypted, plain]);
    expect(await readFile(encrypted, 'utf8')).toMatch(/^sops:/m);
    configs[role] = encrypted;
  }
  configs.sopsAgeKey = { file: keyFile };
}
