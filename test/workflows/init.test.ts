import { access, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CustomObjectsApi, PatchStrategy, PolicyV1Api, setHeaderOptions } from '@kubernetes/client-node';
import { execa } from 'execa';
import { parseDocument } from 'yaml';
import { parsePreset, presetFile, presetKernelArgs, type Preset } from '../../lab/cluster/presets.js';
import {
  expectedKernelArgs,
  nodeAddresses,
  parseInventory,
  schematicOf,
  type Inventory,
} from '../../src/domain/index.js';
import { runCli } from '../cli/runCli.js';
import { labGitHubSource, workerEnvOf } from '../harness/workerEnv.js';
import { mergePullRequest, publishOnLabGitHub } from '../../lab/github/gitHost.js';
import { ensurePollSchedules, pollScheduleId } from '../../src/worker/pollSchedules.js';
import { pollNow, runOfMerge } from '../harness/pollNow.js';
import { initInventory, initWithConfigs, runInit as init } from '../harness/initCli.js';
import { eventually, startLab, type Lab } from '../lab/labHarness.js';
import { eventsSince, labReport, timelineMark, TOUCHING } from './labViews.js';
import { failingUpgrade, upgrade } from './runs.js';
import { startWorkflowHarness, type WorkflowHarness } from './workflowHarness.js';

/**
 * `talos-upgrade init` on clusters the lab built the way users build them: it reads the Nodes, each
 * node's Talos API (installer, kernel arguments, links) and the Terraform state and files, and writes
 * an inventory that describes what the lab runs. The lab's state serves as the answer key; the runs
 * below start from the generated file, unedited.
 */

async function readInventory(file: string): Promise<Inventory> {
  const parsed = parseInventory(await readFile(file, 'utf8'));
  if (!parsed.ok) throw new Error(`${file} is not valid: ${JSON.stringify(parsed.issues)}`);
  return parsed.inventory;
}

/** What an inventory says of each node that init must find: the facts the product acts on. */
function nodeFacts(inventory: Inventory) {
  return Object.fromEntries(
    inventory.nodes.map((node) => [
      node.name,
      {
        role: node.role,
        ip: node.ip,
        nics: node.nics,
        addresses: [...nodeAddresses(node)].sort(),
        schematic: schematicOf(inventory, node),
        kernelArgs: [...expectedKernelArgs(inventory, node)].sort(),
      },
    ]),
  );
}

interface LabStateFile {
  state: {
    preset: Preset;
    nodes: Array<{
      name: string;
      role: string;
      ip: string;
      nics: unknown;
      schematic: string;
      kernelArgs: string[];
    }>;
    templates: Array<{ name: string }>;
  };
}

/**
 * The answer key: what the lab built, from its own state (the VMs it runs and the Terraform
 * addresses it wrote for the shape), never from an inventory.
 */
async function labFacts(
  lab: Lab,
  shape: 'module-per-node' | 'config-apply' | 'count-per-role' | 'count-versions-object',
) {
  const { state } = JSON.parse(await readFile(join(lab.dir, 'state.json'), 'utf8')) as LabStateFile;
  // count-per-role: a role's VMs in the order the tfvars list them, which is the lab's.
  const byCount = shape === 'count-per-role' || shape === 'count-versions-object';
  const countIndex = (name: string) => {
    const role = state.nodes.find((n) => n.name === name)?.role ?? '';
    return `proxmox_virtual_environment_vm.${role}[${state.nodes.filter((n) => n.role === role).findIndex((n) => n.name === name)}]`;
  };
  const addresses = (name: string) =>
    shape === 'config-apply'
      ? [
          `proxmox_virtual_environment_vm.node["${name}"]`,
          `talos_machine_configuration_apply.node["${name}"]`,
        ]
      : byCount
        ? [countIndex(name)]
        : [`module.nodes["${name}"]`];
  // init's kernel arguments are those of the node's config that it booted with (a schematic's own are
  // checked only when the user adds them): the configs' are what the lab wrote from its preset.
  const preset = parsePreset(await readFile(presetFile(state.preset), 'utf8'), state.preset);
  const configArgs = (name: string) => {
    const node = preset.nodes.find((n) => n.name === name);
    return node ? presetKernelArgs(preset, node) : [];
  };
  const booted = state.nodes.map((node) =>
    node.kernelArgs.filter((arg) => configArgs(node.name).includes(arg)).sort(),
  );
  return {
    nodes: Object.fromEntries(
      state.nodes.map((node, i) => [
        node.name,
        {
          role: node.role,
          ip: node.ip,
          nics: node.nics,
          addresses: addresses(node.name),
          schematic: node.schematic,
          kernelArgs: booted[i] ?? [],
        },
      ]),
    ),
    // The count and config-apply shapes keep their templates as bpg/proxmox VMs with template = true,
    // named as no template: init finds them by that mark.
    templates: state.templates.map((t) => [
      t.name,
      byCount || shape === 'config-apply'
        ? `proxmox_virtual_environment_vm.clone_source["${t.name}"]`
        : `module.templates["${t.name}"]`,
    ]),
  };
}

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

/**
 * Runs `body` while the CephCluster's spec.disruptionManagement.managePodBudgets is `manage`, then puts
 * it back and waits for the lab's Rook to have its OSD budget in place again.
 */
async function withRookBudgets(lab: Lab, manage: boolean, body: () => Promise<void>): Promise<void> {
  const custom = lab.kc.makeApiClient(CustomObjectsApi);
  const cluster = {
    group: 'ceph.rook.io',
    version: 'v1',
    plural: 'cephclusters',
    namespace: 'rook-ceph',
    name: 'rook-ceph',
  };
  const set = (value: boolean) =>
    custom.patchNamespacedCustomObject(
      { ...cluster, body: { spec: { disruptionManagement: { managePodBudgets: value } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  await set(manage);
  try {
    await body();
  } finally {
    await set(true);
    const policy = lab.kc.makeApiClient(PolicyV1Api);
    await eventually("Rook's OSD budget back", async () =>
      (await policy.listNamespacedPodDisruptionBudget({ namespace: 'rook-ceph' })).items.some(
        (p) => p.metadata?.name === 'rook-ceph-osd',
      ),
    );
  }
}

/**
 * What a user does before a first run, on any shape: doctor passes every check with the generated
 * inventory and the worker's environment, and a dry run of the minor touches nothing in the lab.
 */
async function doctorAndDryRun(
  lab: Lab,
  h: WorkflowHarness,
  inventory: string,
  id: string,
  cluster = 'atlas',
): Promise<string[]> {
  const doctor = await runCli(['doctor', '--inventory', inventory, '--json'], {
    env: workerEnvOf(lab, h.taskQueue),
  });
  const checks = JSON.parse(doctor.stdout || '[]') as Array<{ check: string; ok: boolean }>;
  expect(checks.filter((c) => !c.ok)).toEqual([]);
  expect(checks.map((c) => c.check)).toEqual(
    expect.arrayContaining(['terraform state', 'terraform plan', 'versions file']),
  );
  expect(doctor.exitCode).toBe(0);
  const mark = await timelineMark(lab);
  const dry = await upgrade(h, cluster, `${id}-dry-run`, { talos: { to: '1.12.0' }, dryRun: true });
  expect(dry.outcome).toBe('dry-run');
  expect(dry.rebuildPlans?.length).toBeGreaterThan(0);
  expect((await eventsSince(lab, mark)).filter((e) => TOUCHING.has(e.kind))).toEqual([]);
  return checks.map((c) => c.check);
}

/**
 * A worker on the generated inventory with the user's one choice for a homelab GitHub cannot reach:
 * polling the repository init found. Its Schedule is paused so that only the test's polls run, and
 * the first poll notes where the branch is.
 */
async function pollingHarness(lab: Lab, generated: string, cluster: string): Promise<WorkflowHarness> {
  const h = await startWorkflowHarness(
    { ...lab, env: { ...lab.env, TALOS_UPGRADE_INVENTORY: generated } },
    (inventory) => {
      if (!inventory.repository) throw new Error(`init found no repository for ${cluster}`);
      inventory.repository.poll = 300_000;
    },
    { repositorySource: labGitHubSource(lab.dir) },
  );
  try {
    expect(
      await ensurePollSchedules(h.client, { [cluster]: { inventory: h.inventory } }, h.taskQueue),
    ).toEqual({
      [cluster]: 'created',
    });
    await h.client.schedule.getHandle(pollScheduleId(cluster)).pause('the test triggers each poll');
    expect((await pollNow(h.client, cluster)).found.recorded).toEqual([]);
    return h;
  } catch (error) {
    await stopPolling(h, cluster);
    throw error;
  }
}

/** Ends what pollingHarness started: the Schedule, the queue, the worker. */
async function stopPolling(h: WorkflowHarness, cluster: string) {
  await h.client.schedule
    .getHandle(pollScheduleId(cluster))
    .delete()
    .catch(() => undefined);
  await h.endQueue(cluster);
  await h.stop();
}

/**
 * Renovate's pull request for Talos `to` (the change renovate.test shows it makes in this layout: the
 * value of talos_version, its v kept), merged on GitHub; the poll picks the merge up and the queue
 * runs it. Returns the merge and its run's result.
 */
async function mergedTalos(h: WorkflowHarness, cluster: string, hosted: string, file: string, to: string) {
  const { merge } = await mergePullRequest(
    hosted,
    {
      number: Number(to.replaceAll('.', '')),
      branch: `renovate/siderolabs-talos-${to}`,
      title: `chore(deps): update dependency siderolabs/talos to v${to}`,
    },
    { [file]: (text) => text.replace(/^(\s*talos_version\s*=\s*"v?)[^"]+(")/m, `$1${to}$2`) },
  );
  expect((await pollNow(h.client, cluster)).found.recorded).toEqual([merge]);
  return { merge, result: await runOfMerge(h.client, cluster, merge) };
}

describe('init on atlas (a module per node, machine configs as files)', () => {
  let lab: Lab;
  let generated: string;
  beforeAll(async () => {
    lab = await startLab('atlas', ['--max-unavailable-workers', '2']);
    generated = join(lab.dir, 'repo', 'generated.yaml');
  }, 900_000);
  afterAll(async () => {
    await lab?.stop();
  });

  it('without a machine config for a recreated VM: says what to pass, and writes nothing', async () => {
    const result = await init(lab, ['--terraform', join(lab.dir, 'repo', 'terraform'), '--out', generated]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(
      /nothing configures a recreated controlplane VM: pass --controlplane-config <file>/,
    );
    expect(await exists(generated)).toBe(false);
  }, 120_000);

  it('writes the inventory of what the lab runs: nodes, NICs, installers, kernel arguments, Terraform addresses, versions', async () => {
    const secrets = join(lab.dir, 'secrets');
    const result = await initWithConfigs(lab, generated);
    expect(result.stderr).not.toMatch(/❌/);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/cluster atlas, 3 controllers \+ 2 workers/);
    const found = await readInventory(generated);
    const key = await labFacts(lab, 'module-per-node');
    expect(nodeFacts(found)).toEqual(key.nodes);
    // The Image Factory's installer the nodes run, at the lab registry (a pull-through mirror).
    const registry = (lab.env.TALOS_LAB_REGISTRY ?? '').replace(/^http:\/\//, '');
    expect(found.images.installer).toBe(`${registry}/nocloud-installer/{schematic}:v{version}`);
    expect(found.versions.file).toBe('terraform/variables.tf');
    expect(found.versions.variables.talos).toBe('talos_version');
    expect(found.terraform?.templates.map((t) => [t.name, t.address])).toEqual(key.templates);
    // Only what the product reads (validate refuses endpoints and Proxmox hosts, which it never does).
    expect((await runCli(['validate', generated])).exitCode).toBe(0);
    // init read each node's config and the Terraform state, secrets and all: none of them is written or said.
    const config = parseDocument(await readFile(join(secrets, 'controlplane.yaml'), 'utf8'));
    const said = `${await readFile(generated, 'utf8')}${result.stdout}${result.stderr}`;
    for (const path of [
      ['machine', 'token'],
      ['machine', 'ca', 'key'],
      ['cluster', 'secret'],
      ['cluster', 'token'],
    ]) {
      const secret = config.getIn(path);
      expect(typeof secret).toBe('string');
      expect(said).not.toContain(secret);
    }
    // A second init does not overwrite the file unasked.
    const again = await init(lab, ['--out', generated]);
    expect(again.exitCode).toBe(2);
    expect(again.stderr).toMatch(/exists: pass --force/);
  }, 180_000);

  it('a patch run and then a minor run go through from the generated inventory', async () => {
    // The worker reads the generated file where the lab's would be.
    const h: WorkflowHarness = await startWorkflowHarness({
      ...lab,
      env: { ...lab.env, TALOS_UPGRADE_INVENTORY: generated },
    });
    try {
      await doctorAndDryRun(lab, h, generated, 'from-init');
      expect((await upgrade(h, 'atlas', 'from-init-patch', { talos: { to: '1.11.4' } })).outcome).toBe(
        'succeeded',
      );
      expect((await upgrade(h, 'atlas', 'from-init-minor', { talos: { to: '1.12.0' } })).outcome).toBe(
        'succeeded',
      );
      const report = await labReport(lab);
      expect(report.violations).toEqual([]);
      expect(new Set(report.vms.map((vm) => vm.talosVersion))).toEqual(new Set(['1.12.0']));
    } finally {
      await h.stop();
    }
  }, 1_200_000);
});

describe('init on prox-ops (for_each VMs and a config apply per node, VLAN NICs, two schematics)', () => {
  let lab: Lab;
  beforeAll(async () => {
    // The user's clone of their repository on GitHub (its origin, origin's HEAD): init reads it there.
    lab = await startLab('prox-ops', ['--terraform-shape', 'config-apply'], {
      beforeInit: async (labDir) => {
        await publishOnLabGitHub(labDir, join(labDir, 'repo'), 'homelab/prox-ops');
      },
    });
  }, 900_000);
  afterAll(async () => {
    await lab?.stop();
  });

  it("finds each node's VM and config apply, and that Terraform configures recreated VMs", async () => {
    const generated = join(lab.dir, 'repo', 'generated.yaml');
    const result = await init(lab, [
      '--terraform',
      join(lab.dir, 'repo', 'terraform'),
      '--out',
      generated,
      '--backups',
      join(lab.dir, 'backups'),
    ]);
    expect(result.stderr).not.toMatch(/❌/);
    expect(result.exitCode).toBe(0);
    const found = await readInventory(generated);
    expect(nodeFacts(found)).toEqual((await labFacts(lab, 'config-apply')).nodes);
    expect(found.machineConfigs).toEqual({ controlplane: 'terraform', worker: 'terraform' });
    expect(found.cluster.storage).toBe('rook-ceph');
    expect(found.cluster.gitops).toBe('flux');
    // The patches, found by comparing the repository's patch files with each node's running config:
    // the one every node carries is global; a GPU worker's own are its GPU patches, with the model
    // its nvidia.com/gpu.product label names. The answer key is the repository's layout.
    const { state } = JSON.parse(await readFile(join(lab.dir, 'state.json'), 'utf8')) as {
      state: { nodes: Array<{ name: string; gpu?: string }> };
    };
    const patchDir = join(lab.dir, 'repo', 'talos', 'patches');
    const topLevel = (await readdir(patchDir, { withFileTypes: true })).filter((e) => e.isFile());
    expect(found.policy.globalPatches).toEqual(topLevel.map((e) => `talos/patches/${e.name}`));
    const gpus = state.nodes.filter((n) => n.gpu);
    expect(gpus.length).toBeGreaterThan(0);
    for (const n of state.nodes) {
      const own = n.gpu ? await readdir(join(patchDir, n.name)) : [];
      expect([n.name, found.nodes.find((f) => f.name === n.name)?.gpu]).toEqual([
        n.name,
        n.gpu
          ? { model: n.gpu.replace(/\s+/g, '-'), patches: own.map((f) => `talos/patches/${n.name}/${f}`) }
          : undefined,
      ]);
    }
    // The repository and the branch merges land on, from the clone's origin, written by init (not the
    // schema's default).
    expect(found.repository?.github).toBe('homelab/prox-ops');
    expect(await readFile(generated, 'utf8')).toMatch(/^ {2}defaultBranch: main$/m);
    expect(result.stderr).not.toMatch(/default branch is unknown|no repository section/);
  }, 180_000);

  it('doctor passes, a dry run touches nothing, and a trial patch of three nodes goes through from the generated inventory', async () => {
    const generated = join(lab.dir, 'repo', 'generated.yaml');
    const h: WorkflowHarness = await startWorkflowHarness({
      ...lab,
      env: { ...lab.env, TALOS_UPGRADE_INVENTORY: generated },
    });
    try {
      // With the repository init found: the doctor reads it through the worker's source too.
      const checked = await doctorAndDryRun(lab, h, generated, 'prox-ops', 'prox-ops');
      expect(checked).toEqual(expect.arrayContaining(['repository', 'ceph maintenance']));
      // Rook told not to manage the OSDs' budgets: nothing would keep a drained node's OSDs noout.
      await withRookBudgets(lab, false, async () => {
        const doctor = await runCli(['doctor', '--inventory', generated, '--json'], {
          env: workerEnvOf(lab, h.taskQueue),
        });
        expect(doctor.exitCode).toBe(1);
        const failed = (
          JSON.parse(doctor.stdout) as Array<{ check: string; ok: boolean; fix?: string }>
        ).filter((c) => !c.ok);
        expect(failed).toEqual([
          expect.objectContaining({
            check: 'ceph maintenance',
            fix: expect.stringContaining('spec.disruptionManagement.managePodBudgets: true'),
          }),
        ]);
      });
      // A user's first run, a trial (`start --nodes`): a controller, the GPU worker with its own patch
      // and a worker with VLAN NICs, each checked after its reboot against what init found. The whole
      // 15-node patch is pets.test's; the shape's own part (Terraform configuring VMs) is a rebuild's.
      const trial = ['k8s-ctrl-1', 'k8s-work-4', 'k8s-work-5'];
      const patch = await upgrade(h, 'prox-ops', 'prox-ops-patch', { talos: { to: '1.11.4' }, nodes: trial });
      expect(patch.outcome).toBe('succeeded');
      const report = await labReport(lab);
      expect(report.violations).toEqual([]);
      // In place: every VM kept; the named nodes on the patch, the others untouched.
      expect(report.vms.map((vm) => [vm.node, vm.talosVersion, vm.destroyed, vm.created])).toEqual(
        report.vms.map((vm) => [vm.node, trial.includes(vm.node) ? '1.11.4' : '1.11.3', 0, 0]),
      );
    } finally {
      await h.stop();
    }
  }, 900_000);
});

describe('init on atlas as bpg/proxmox VMs by count per role, the versions only in terraform.tfvars (Talos with a v)', () => {
  let lab: Lab;
  let hosted: string;
  // The user names the cluster in init (its own queue and poll Schedule, whatever other suites run).
  const cluster = 'atlas-count';
  beforeAll(async () => {
    // The user's repository on GitHub, and their clone of it, where Terraform runs.
    lab = await startLab('atlas', ['--max-unavailable-workers', '2', '--terraform-shape', 'count-per-role'], {
      beforeInit: async (labDir) => {
        hosted = await publishOnLabGitHub(labDir, join(labDir, 'repo'), 'homelab/atlas');
      },
    });
  }, 900_000);
  afterAll(async () => {
    await lab?.stop();
  });

  it("finds each VM by its name and the versions in terraform.tfvars; a merge's patch and a merge's minor go through from it", async () => {
    const generated = await initInventory(lab, 'generated.yaml', ['--name', cluster]);
    const found = await readInventory(generated);
    expect(nodeFacts(found)).toEqual((await labFacts(lab, 'count-per-role')).nodes);
    expect(found.versions).toMatchObject({
      file: 'terraform/terraform.tfvars',
      variables: { talos: 'talos_version', kubernetes: 'kubernetes_version' },
    });
    const key = await labFacts(lab, 'count-per-role');
    expect(found.terraform?.templates.map((t) => [t.name, t.address])).toEqual(key.templates);
    expect(found.repository).toMatchObject({ github: 'homelab/atlas', defaultBranch: 'main' });
    const tfvars = 'terraform/terraform.tfvars';
    const h = await pollingHarness(lab, generated, cluster);
    try {
      // Given the version without its v, Terraform would name an image that does not exist: pre-flight
      // asks for each image a rebuild downloads, before any VM is destroyed.
      const versions = h.inventory.versions;
      h.inventory.versions = { ...versions, file: 'terraform/nowhere.tfvars' };
      const refused = await failingUpgrade(h, cluster, 'image-form', { talos: { to: '1.12.0' } }).finally(
        () => (h.inventory.versions = versions),
      );
      expect(refused.message).toMatch(
        /talos-cp-1: its create at Talos 1\.12\.0 would download http:\/\/127\.0\.0\.1:\d+\/image\/[0-9a-f]{64}\/1\.12\.0\/nocloud-amd64\.raw\.zst, which answers 404; nothing was touched/,
      );
      expect((await labReport(lab)).vms.every((vm) => vm.destroyed === 0)).toBe(true);

      // The workers' image built from another schematic than they run (a schematic changed in the
      // tfvars, the inventory not told): the new VMs would lack its kernel arguments. Refused from the
      // plan's image URL, before any VM is destroyed.
      const clonedTfvars = join(lab.dir, 'repo', tfvars);
      const merged = await readFile(clonedTfvars, 'utf8');
      const plain = '366fd68945d42e0b6428f65068c83c2c3c08e3afb0e3bc3f00e04b28e2ad0ce2';
      await writeFile(clonedTfvars, merged.replace(/^(worker_schematic_id\s*=\s*)".*"$/m, `$1"${plain}"`));
      const otherSchematic = await failingUpgrade(h, cluster, 'other-schematic', {
        talos: { to: '1.12.0' },
      }).finally(() => writeFile(clonedTfvars, merged));
      expect(otherSchematic.message).toMatch(
        /talos-wk-\d: its create at Talos 1\.12\.0 would boot one of proxmox_virtual_environment_download_file\.talos\["[a-z0-9-]+\/worker"\] \(schematic 366fd68945d4…\), but talos-wk-\d runs schematic 4a0d65c669d4… \(the inventory's\): .*nothing was touched/,
      );
      expect((await labReport(lab)).vms.every((vm) => vm.destroyed === 0)).toBe(true);

      await doctorAndDryRun(lab, h, generated, 'count', cluster);
      const patch = await mergedTalos(h, cluster, hosted, tfvars, '1.11.4');
      expect([patch.result.outcome, patch.result.talos]).toEqual([
        'succeeded',
        { from: '1.11.3', to: '1.11.4' },
      ]);
      const minor = await mergedTalos(h, cluster, hosted, tfvars, '1.12.0');
      expect([minor.result.outcome, minor.result.talos]).toEqual([
        'succeeded',
        { from: '1.11.4', to: '1.12.0' },
      ]);
      const report = await labReport(lab);
      expect(report.violations).toEqual([]);
      expect(report.vms.map((vm) => [vm.talosVersion, vm.destroyed, vm.created])).toEqual(
        report.vms.map(() => ['1.12.0', 1, 1]),
      );
      // The templates (VMs with template = true, whose image the nodes' download shares) were made
      // again from the new image, each once, before the first node.
      const built = report.timeline.filter((e) => e.kind === 'template-built').map((e) => e.detail);
      expect(built.sort()).toEqual(key.templates.map(([name]) => `${name} at Talos 1.12.0`).sort());
      expect(report.timeline.filter((e) => e.kind === 'template-destroyed')).toHaveLength(
        key.templates.length,
      );
      // The worker's clone is at the last merge: the files Terraform ran with are the merged ones,
      // brought by Git, never written by the product.
      const clone = join(lab.dir, 'repo');
      expect((await execa('git', ['-C', clone, 'rev-parse', 'HEAD'])).stdout.trim()).toBe(minor.merge);
      expect(
        (await execa('git', ['-C', clone, 'status', '--porcelain', '--untracked-files=no'])).stdout,
      ).toBe('');
      expect(await readFile(join(clone, tfvars), 'utf8')).toMatch(/^talos_version\s*=\s*"v1\.12\.0"$/m);
    } finally {
      await stopPolling(h, cluster);
    }
  }, 1_200_000);
});

describe('init on atlas by count per role, the versions as attributes of one object in cluster.auto.tfvars', () => {
  let lab: Lab;
  let hosted: string;
  const cluster = 'atlas-object';
  beforeAll(async () => {
    lab = await startLab(
      'atlas',
      ['--max-unavailable-workers', '2', '--terraform-shape', 'count-versions-object'],
      {
        beforeInit: async (labDir) => {
          hosted = await publishOnLabGitHub(labDir, join(labDir, 'repo'), 'homelab/atlas');
        },
      },
    );
  }, 900_000);
  afterAll(async () => {
    await lab?.stop();
  });

  it("names each version by its path in the object; a merge's patch and a merge's minor, each node planned with the whole object as merged", async () => {
    const generated = await initInventory(lab, 'generated.yaml', ['--name', cluster]);
    const found = await readInventory(generated);
    expect(nodeFacts(found)).toEqual((await labFacts(lab, 'count-versions-object')).nodes);
    expect(found.versions).toMatchObject({
      file: 'terraform/cluster.auto.tfvars',
      variables: {
        talos: 'cluster.talos_version',
        kubernetes: 'cluster.kubernetes_version',
        controllerSchematic: 'cluster.controller_schematic_id',
      },
    });
    expect(found.terraform?.varFiles).toEqual([]);
    const versionsFile = 'terraform/cluster.auto.tfvars';
    const h = await pollingHarness(lab, generated, cluster);
    try {
      // Each node's plan at the version it runs, given as the whole object, changes nothing.
      await doctorAndDryRun(lab, h, generated, 'object', cluster);
      // The merge changes one attribute of the object; each node's plan gets the whole object (its name
      // and schematics as the merge left them) at the version the run is at.
      const patch = await mergedTalos(h, cluster, hosted, versionsFile, '1.11.4');
      expect([patch.result.outcome, patch.result.talos]).toEqual([
        'succeeded',
        { from: '1.11.3', to: '1.11.4' },
      ]);
      const minor = await mergedTalos(h, cluster, hosted, versionsFile, '1.12.0');
      expect([minor.result.outcome, minor.result.talos]).toEqual([
        'succeeded',
        { from: '1.11.4', to: '1.12.0' },
      ]);
      const report = await labReport(lab);
      expect(report.violations).toEqual([]);
      expect(report.vms.map((vm) => [vm.talosVersion, vm.destroyed, vm.created])).toEqual(
        report.vms.map(() => ['1.12.0', 1, 1]),
      );
      const merged = (await execa('git', ['-C', hosted, 'show', `${minor.merge}:${versionsFile}`])).stdout;
      expect(`${await readFile(join(lab.dir, 'repo', versionsFile), 'utf8')}`.trimEnd()).toBe(
        merged.trimEnd(),
      );
    } finally {
      await stopPolling(h, cluster);
    }
  }, 1_200_000);
});
