import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execa } from 'execa';
import { startLab, type Lab } from '../lab/labHarness.js';
import { eventsSince, labReport, timelineMark } from './labViews.js';
import { refusedUntouched } from './refusedUntouched.js';
import { failingUpgrade, upgrade } from './runs.js';
import { startWorkflowHarness, type WorkflowHarness } from './workflowHarness.js';

/**
 * A repository whose Terraform configures each VM itself (atlas in the config-apply shape: a
 * bpg/proxmox VM per node by for_each and the siderolabs/talos provider's talos_machine_configuration_apply
 * per node, the lab's builds of both providers). The inventory says `machineConfigs: terraform`: the
 * product sends no config; pre-flight proves from each node's destroy plan that its config apply goes
 * and comes back with its VM.
 */
let lab: Lab;
let h: WorkflowHarness;
beforeAll(async () => {
  lab = await startLab('atlas', ['--max-unavailable-workers', '2', '--terraform-shape', 'config-apply']);
  h = await startWorkflowHarness(lab);
}, 900_000);
afterAll(async () => {
  await h?.stop();
  await lab?.stop();
});

/** A cattle upgrade from `from` to `to`, refused in pre-flight with nothing touched. */
const refused = (id: string, reason: RegExp, from = '1.11.3', to = '1.12.0') =>
  refusedUntouched(lab, from, reason, () => failingUpgrade(h, 'atlas', id, { talos: { to } }));

describe('machine configs applied by Terraform (atlas, config-apply shape)', () => {
  /** A cattle run refused in pre-flight while talos-wk-1's addresses keep only those `keep` accepts. */
  async function refusedWithAddresses(keep: (address: string) => boolean, id: string, reason: RegExp) {
    const node = h.inventory.nodes.find((n) => n.name === 'talos-wk-1');
    const own = node?.terraformAddresses;
    if (!node || !own) throw new Error('init names two addresses per node in the config-apply shape');
    node.terraformAddresses = own.filter(keep);
    try {
      await refused(id, reason);
    } finally {
      node.terraformAddresses = own;
    }
  }

  it('a node whose addresses leave out its config apply: refused, since its new VM would boot unconfigured', async () => {
    await refusedWithAddresses(
      (address) => !address.startsWith('talos_machine_configuration_apply.'),
      'config-apply-left-out',
      /talos-wk-1: its machine config comes from Terraform, but its rebuild would not apply one, nothing was touched: no talos_machine_configuration_apply lies under proxmox_virtual_environment_vm\.node\["talos-wk-1"\]/,
    );
  });

  it('a node whose addresses name only its config apply: refused, since no VM would be recreated', async () => {
    await refusedWithAddresses(
      (address) => address.startsWith('talos_machine_configuration_apply.'),
      'vm-left-out',
      /talos-wk-1: its rebuild would destroy no VM, nothing was touched: talos_machine_configuration_apply\.node\["talos-wk-1"\] names only its machine config apply/,
    );
  });

  it("a config apply that would send no VLAN the node's NIC carries: refused from its create plan, naming the resource", async () => {
    const node = h.inventory.nodes.find((n) => n.name === 'talos-wk-1');
    if (!node) throw new Error('init names talos-wk-1');
    const nics = node.nics;
    // The node's NIC carries a tagged VLAN that neither its role's config nor the resource's patches define.
    node.nics = nics.map((nic, i) => (i === 0 ? { ...nic, vlan: 62 } : nic));
    try {
      await refused(
        'config-apply-no-vlan',
        /talos-wk-1: the machine config talos_machine_configuration_apply\.node\["talos-wk-1"\] would send defines no VLAN 62 on ens18, .* Define it in that resource's machine_configuration_input or config_patches/,
      );
    } finally {
      node.nics = nics;
    }
  });

  it('a cattle upgrade: every VM recreated and configured by its own Terraform apply, none by the product', async () => {
    const mark = await timelineMark(lab);
    const result = await upgrade(h, 'atlas', 'configured-by-terraform', { talos: { to: '1.12.0' } });
    expect(result.outcome).toBe('succeeded');
    // Each node's config was read from its create plan and proven (not left to the checks after the boot).
    expect(
      result.rebuildPlans?.map((p) => [p.node, /the machine config \S+ would send proven$/.test(p.create)]),
    ).toEqual(['talos-cp-1', 'talos-cp-2', 'talos-cp-3', 'talos-wk-1', 'talos-wk-2'].map((n) => [n, true]));
    const report = await labReport(lab);
    expect(report.violations).toEqual([]);
    expect(report.vms.map((vm) => [vm.node, vm.talosVersion])).toEqual(
      ['talos-cp-1', 'talos-cp-2', 'talos-cp-3', 'talos-wk-1', 'talos-wk-2'].map((n) => [n, '1.12.0']),
    );
    // Each new VM got exactly one config, after it was created: the provider's, in the same apply.
    const events = await eventsSince(lab, mark);
    for (const node of ['talos-cp-1', 'talos-wk-2']) {
      const own = events.filter((e) => e.node === node).map((e) => e.kind);
      expect(own.filter((k) => k === 'vm-created')).toHaveLength(1);
      expect(own.filter((k) => k === 'config-applied')).toHaveLength(1);
      expect(own.indexOf('config-applied')).toBeGreaterThan(own.indexOf('vm-created'));
    }
  }, 900_000);

  it('config applies that depend on the whole VM resource: refused, naming the dependency', async () => {
    const root = join(lab.dir, 'repo', 'terraform');
    const main = join(root, 'main.tf');
    // The common way to order them after the VMs, and what makes one VM's destroy take every node's
    // along. Terraform orders a destroy by the dependencies its state recorded: a cluster built with
    // depends_on has them there (a refresh-only apply records them here, touching nothing else; it
    // never forgets them again, so this runs last, on the cluster the upgrade above left at 1.12.0).
    await writeFile(
      main,
      (await readFile(main, 'utf8')).replace(
        'resource "talos_machine_configuration_apply" "node" {\n',
        'resource "talos_machine_configuration_apply" "node" {\n  depends_on = [proxmox_virtual_environment_vm.node]\n',
      ),
    );
    await execa(lab.env.TERRAFORM ?? '', ['apply', '-refresh-only', '-auto-approve', '-input=false'], {
      cwd: root,
    });
    await refused(
      'config-apply-depends-on-all',
      /talos-cp-1: its destroy is refused, nothing was touched: it would delete talos_machine_configuration_apply\.node\["talos-cp-2"\], which belongs to talos-cp-2 \(every config apply depends on the whole VM resource/,
      '1.12.0',
      '1.13.0',
    );
  });
});
