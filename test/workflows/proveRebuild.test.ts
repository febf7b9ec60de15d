import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ensureTools } from '../../lab/tools.js';
import { parseInventory } from '../../src/domain/index.js';
import { gitAsRenovate, initRepository } from '../../scripts/demo/renovateMerge.js';
import { publishOnLabGitHub } from '../../lab/github/gitHost.js';
import { initInventory } from '../harness/initCli.js';
import { startLab, type Lab } from '../lab/labHarness.js';
import { eventsSince, labReport, labStatus, timelineMark, TOUCHING } from './labViews.js';
import { refusedUntouched as refusedUntouchedBy } from './refusedUntouched.js';
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

  it('a kernel argument in the config but not in the schematic: refused before any VM is destroyed', async () => {
    // The user's talos-wk-2 boots nosmt from its config's install section (an install put it there) and
    // has it checked. A VM rebuilt from the schematic's disk image would boot without it, and so would
    // the rollback's rebuild.
    const node = h.inventory.nodes.find((n) => n.name === 'talos-wk-2');
    if (!node) throw new Error('atlas has talos-wk-2');
    const own = node.kernelArgs;
    node.kernelArgs = [...(own ?? []), 'nosmt'];
    try {
      await refusedUntouched(
        'arg-not-in-schematic',
        /talos-wk-2 would boot without nosmt \(schematic 4a0d65c669d4… has no such extraKernelArgs\)\. Add the arguments to the schematic \(customization\.extraKernelArgs/,
      );
    } finally {
      node.kernelArgs = own;
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

  it("a patch with a document the undo's Talos cannot read (a VLANConfig on 1.11): refused before any VM is destroyed", async () => {
    // The user's patch, written for Talos 1.12's VLANConfig. The run's rebuilt VMs boot 1.11.4 and its
    // undo's 1.11.3: neither registers the kind, and the patch would fail on the new VM after the old
    // one was destroyed (seen without this check: talos-cp-1 rebuilt, the patch refused, the node compensating).
    const patch = join(lab.dir, 'vlan-document.yaml');
    await writeFile(
      patch,
      'apiVersion: v1alpha1\nkind: VLANConfig\nname: eth1.99\nvlanID: 99\nparent: eth1\n',
    );
    const { policy } = h.inventory;
    const patches = policy.globalPatches;
    policy.globalPatches = [...patches, patch];
    policy.strategy.patch = 'cattle';
    try {
      await refusedUntouchedBy(
        lab,
        '1.11.3',
        /the patch .*vlan-document\.yaml of talos-cp-1, .* holds documents Talos 1\.11\.3 cannot read: VLANConfig \(Talos 1\.12 and later\)\. Talos 1\.11\.3 refuses the whole config \("VLANConfig" "v1alpha1": not registered\).*No VM is destroyed until then/,
        () => failingUpgrade(h, 'atlas', 'vlan-document', { talos: { to: '1.11.4' } }),
      );
    } finally {
      policy.globalPatches = patches;
      policy.strategy.patch = 'pets';
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
    // The user runs init again on the renamed root: it finds the variable by the version the nodes run.
    const again = parseInventory(await readFile(await initInventory(lab, 'renamed.yaml'), 'utf8'));
    if (!again.ok) throw new Error(`init's inventory: ${JSON.stringify(again.issues)}`);
    expect(again.inventory.versions.variables.talos).toBe('prod_talos_version');
    h.inventory.versions = again.inventory.versions;
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
 * The worker's clone of the repository, as a user's is: cloned from GitHub (here a work tree beside it,
 * where pull requests are merged) and left at the commit it was cloned at. A merge's run brings it to
 * the merge before any Terraform run, and refuses when that would lose or skip something.
 */
describe("the worker's clone is brought to the merge before Terraform runs (atlas, after the renamed variable)", () => {
  const clone = () => join(lab.dir, 'repo');
  let hosted = '';
  const github = () => hosted;
  const inClone = (args: string[]) => gitAsRenovate(clone(), args);
  let merge = '';

  beforeAll(async () => {
    // The repository as deployed (the renamed variable of the test before), pushed to "GitHub".
    await initRepository(clone());
    hosted = await publishOnLabGitHub(lab.dir, clone(), 'homelab/atlas');
    // Merged on GitHub after the worker cloned: the VMs get more memory, and Talos 1.12.1.
    const module = join(github(), 'terraform', 'modules', 'node', 'main.tf');
    await writeFile(
      module,
      (await readFile(module, 'utf8')).replace('dedicated = 8192', 'dedicated = 12288'),
    );
    const variables = join(github(), 'terraform', 'variables.tf');
    await writeFile(
      variables,
      (await readFile(variables, 'utf8')).replace(
        /(variable "prod_talos_version"[^}]*default\s*=\s*")[^"]+(")/s,
        '$11.12.1$2',
      ),
    );
    await gitAsRenovate(github(), ['commit', '--quiet', '-am', 'VMs with 12 GiB; Talos 1.12.1']);
    merge = (await gitAsRenovate(github(), ['rev-parse', 'HEAD'])).stdout.trim();
    // The user's policy: patch releases recreate the VM too, so this one-node trial runs Terraform.
    h.inventory.policy.strategy.patch = 'cattle';
  });
  afterAll(() => {
    h.inventory.policy.strategy.patch = 'pets';
  });

  const trial = (id: string, commit = merge) =>
    failingUpgrade(h, 'atlas', id, { talos: { to: '1.12.1' }, nodes: ['talos-wk-1'], commit });

  it('a clone with a commit of its own, not on the way to the merge: refused, nothing moved', async () => {
    await writeFile(join(clone(), 'NOTES.md'), 'a local note\n');
    await inClone(['add', 'NOTES.md']);
    await inClone(['commit', '--quiet', '-m', 'a local commit']);
    try {
      await refusedUntouchedBy(
        lab,
        '1.12.0',
        /which is not on the way to the merge .*nothing was changed/,
        () => trial('clone-diverged'),
      );
    } finally {
      await inClone(['reset', '--quiet', '--hard', 'HEAD~1']);
    }
  });

  it('a clone with uncommitted changes to a tracked file: refused, the change kept', async () => {
    const file = join(clone(), 'terraform', 'variables.tf');
    const text = await readFile(file, 'utf8');
    await writeFile(file, `${text}# a local edit\n`);
    try {
      await refusedUntouchedBy(
        lab,
        '1.12.0',
        /has uncommitted changes to terraform\/variables\.tf: .*Commit or stash them/,
        () => trial('clone-dirty'),
      );
      expect(await readFile(file, 'utf8')).toContain('# a local edit');
      expect((await inClone(['rev-parse', 'HEAD'])).stdout.trim()).not.toBe(merge);
    } finally {
      await writeFile(file, text);
    }
  });

  it('a commit origin does not have: refused after fetching, nothing moved', async () => {
    await refusedUntouchedBy(lab, '1.12.0', /is not on origin of .*fetched just now/, () =>
      trial('clone-unknown', 'f'.repeat(40)),
    );
  });

  it('a merge the clone has not fetched: fast-forwarded, and the node rebuilt from the merged root', async () => {
    const result = await upgrade(h, 'atlas', 'clone-behind', {
      talos: { to: '1.12.1' },
      nodes: ['talos-wk-1'],
      commit: merge,
    });
    expect(result.outcome).toBe('succeeded');
    expect((await inClone(['rev-parse', 'HEAD'])).stdout.trim()).toBe(merge);
    const state = JSON.parse(
      await readFile(join(clone(), 'terraform', 'terraform.tfstate'), 'utf8'),
    ) as TerraformState;
    const vm = (node: string) => {
      const attributes = state.resources.find(
        (r) => r.module === `module.nodes["${node}"]` && r.type === 'proxmox_virtual_environment_vm',
      )?.instances[0]?.attributes as
        { memory?: Array<{ dedicated?: number }>; disk?: Array<{ file_id?: string }> } | undefined;
      return { memory: attributes?.memory?.[0]?.dedicated, image: attributes?.disk?.[0]?.file_id };
    };
    // The module as merged, not as the clone had it: only the rebuilt node carries it yet.
    expect(vm('talos-wk-1')).toEqual({ memory: 12288, image: expect.stringContaining('talos-v1.12.1-') });
    expect(vm('talos-wk-2').memory).toBe(8192);
    expect((await labStatus(lab)).find((r) => r.node === 'talos-wk-1')?.talos).toBe('1.12.1');
  }, 600_000);

  it('a clone at the merge with a local commit after it, not on origin: refused, nothing moved', async () => {
    await writeFile(join(clone(), 'NOTES.md'), 'a local note after the merge\n');
    await inClone(['add', 'NOTES.md']);
    await inClone(['commit', '--quiet', '-m', 'a local commit after the merge']);
    const mark = await timelineMark(lab);
    try {
      // talos-wk-2: talos-wk-1 runs 1.12.1 by now, and a run for it alone would have nothing to do.
      const { message } = await failingUpgrade(h, 'atlas', 'clone-ahead', {
        talos: { to: '1.12.1' },
        nodes: ['talos-wk-2'],
        commit: merge,
      });
      expect(message).toMatch(/a commit origin does not have \(a local commit after the merge\)/);
      expect((await eventsSince(lab, mark)).filter((e) => TOUCHING.has(e.kind))).toEqual([]);
    } finally {
      await inClone(['reset', '--quiet', '--hard', 'HEAD~1']);
    }
  });
});

interface TerraformState {
  resources: Array<{
    module?: string;
    type: string;
    instances: Array<{ attributes: { input?: { value?: Record<string, unknown> } } }>;
  }>;
}

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
