import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import type { KubeConfig } from '@kubernetes/client-node';
import { CoreV1Api } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { KeepAliveKubeConfig } from '../../src/activities/keepAliveKubeConfig.js';
import { fleetMemberPreset, fleetMemberName, seedFleetMember } from '../cluster/fleet.js';
import { seedCluster, waitForBootstrapManifests } from '../cluster/seedCluster.js';
import { createStaticPods } from '../cluster/staticPods.js';
import {
  isPreset,
  presetFile,
  parsePreset,
  presetKernelArgs,
  roleSchematic,
  type ClusterPreset,
} from '../cluster/presets.js';
import { abortable } from '../../src/activities/abortable.js';
import { startControlPlane } from '../kube/controlPlane.js';
import { startFleetView } from '../kube/fleetView.js';
import { kubeconfigYaml } from '../kube/kubeconfig.js';
import { boundPort } from '../net/freePort.js';
import { waitUntil, type ManagedProcess } from '../process/managedProcess.js';
import {
  GLOBAL_PATCH,
  gpuPatch,
  mergePatch,
  mirroredInstaller,
  writeLabRepository,
} from '../repo/labRepository.js';
import { allocateBlocks, onLoopback, type AddressBlock } from '../talos/addresses.js';
import { generateClusterSecrets, startTalosApi, type ClusterSecrets } from '../talos/apiServer.js';
import {
  isTerraformShape,
  TERRAFORM_SHAPES,
  writeCountWorkspace,
  writeTerraformWorkspace,
  type TerraformShape,
} from '../repo/terraformWorkspace.js';
import { INITIAL_TALOS, initialState } from '../state/labState.js';
import { ensureTools } from '../tools.js';
import { startApi } from './api.js';
import { writeDaemonInfo, type DaemonInfo } from './daemonFile.js';
import { LabCluster, type LabTiming } from './labCluster.js';
import { startMonitor } from './monitor.js';
import { NodeCache } from './nodeCache.js';
import { startRegistry } from './registry.js';
import { RookCephSim } from '../cluster/rookCeph.js';
import { startCsiAttacher } from './csiAttacher.js';
import { storageHosts } from '../cluster/workloads.js';

const progress = (message: string) => console.log(`[lab] ${message}`);

async function writeEnvFile(file: string, env: Record<string, string>): Promise<void> {
  await writeFile(
    file,
    Object.entries(env)
      .map(([k, v]) => `${k}=${v}`)
      .join('\n') + '\n',
  );
}

/** Stops for the servers started so far, for a start that fails half-way. */
const startedServers: Array<() => Promise<void>> = [];

/** What every cluster of one lab shares: the control plane, the tools, the registry, the timings. */
interface Shared {
  dir: string;
  preset: string;
  kc: KubeConfig;
  kubeconfig: string;
  tools: Awaited<ReturnType<typeof ensureTools<'kube' | 'kwok' | 'terraform' | 'talos' | 'sops'>>>;
  timing: LabTiming;
  registryUrl: string;
  apiUrl: string;
  maxUnavailableWorkers?: number;
  /** How the repository's Terraform is laid out (module-per-node unless asked). */
  terraformShape: TerraformShape;
  /** The Talos version every node and template starts at. */
  talos: string;
  /** A fleet member's kubeconfig: the shared API server seen through the fleet's view. */
  memberKubeconfig?: (cluster: string) => string;
}

/**
 * One cluster of the lab in its own directory (the lab directory itself, or clusters/<name> of a
 * fleet): its state, the user's repository (patches, and the Terraform workspace when the preset has
 * one), its machine configs and talosconfig, lab.env, and a daemon.json whose API address leads to it.
 */
async function setUpCluster(
  shared: Shared,
  clusterDir: string,
  origin: string,
  described: ClusterPreset,
  seed: (lab: LabCluster) => Promise<void>,
  apiPath: string,
): Promise<{ lab: LabCluster; info: DaemonInfo; secretsDir: string; adoptVms: () => Promise<void> }> {
  const repoDir = join(clusterDir, 'repo');
  await rm(repoDir, { recursive: true, force: true });
  await mkdir(join(clusterDir, 'backups'), { recursive: true });
  const state = initialState(shared.preset, origin, described, shared.talos);
  const talosconfig = join(clusterDir, 'talosconfig');
  const secretsDir = join(clusterDir, 'secrets');
  const secrets = await generateClusterSecrets(shared.tools['talos-lab-api'], {
    secretsDir,
    cluster: state.cluster,
    talosconfig,
    endpoints: described.cluster.talosEndpoints,
    kubernetesEndpoint: described.cluster.kubernetesEndpoint,
    kubernetesVersion: state.kubernetesVersion,
    talosVersion: state.nodes[0]?.talosVersion ?? INITIAL_TALOS,
  });
  if (shared.maxUnavailableWorkers !== undefined) state.maxUnavailableWorkers = shared.maxUnavailableWorkers;
  const terraformDir = join(repoDir, 'terraform');
  const lab = new LabCluster(state, shared.kc, clusterDir, shared.timing, {
    dir: repoDir,
    terraform: { binary: shared.tools.terraform, dir: terraformDir },
    gpuPatches: Object.fromEntries(
      described.nodes.filter((n) => n.gpu).map((n) => [n.name, n.gpu?.patches ?? []]),
    ),
  });
  const registryHost = shared.registryUrl.replace(/^http:\/\//, '');
  await loadMachineConfigs(lab, described, secrets, registryHost);
  await seed(lab);
  for (const node of lab.controlPlane())
    await createStaticPods(lab.core, state.cluster, node, lab.machineConfigs.get(node.name));
  const configApply = shared.terraformShape === 'config-apply' && described.terraform !== undefined;
  await writeLabRepository(repoDir, described);
  const byCount =
    (shared.terraformShape === 'count-per-role' || shared.terraformShape === 'count-versions-object') &&
    described.terraform !== undefined;
  // Every shape makes its VMs with the lab's build of bpg/proxmox, against this cluster's API.
  const proxmox = {
    provider: shared.tools['terraform-provider-proxmox'],
    endpoint: `${shared.apiUrl}${apiPath}`,
    imageFactory: shared.registryUrl,
  };
  if (byCount)
    await writeCountWorkspace(
      terraformDir,
      state,
      proxmox,
      shared.terraformShape === 'count-versions-object',
    );
  else if (described.terraform)
    await writeTerraformWorkspace(
      terraformDir,
      state,
      proxmox,
      configApply
        ? {
            provider: shared.tools['terraform-provider-talos'],
            talosconfig,
            machineConfigs: secrets.machineConfigs,
            patches: Object.fromEntries(
              described.nodes.map((n) => [n.name, [...described.globalPatches, ...(n.gpu?.patches ?? [])]]),
            ),
            installerBase: mirroredInstaller(described.images.installer, registryHost).replace(
              /\/\{schematic\}.*$/,
              '',
            ),
            kernelArgs: Object.fromEntries(
              described.nodes.map((n) => [n.name, presetKernelArgs(described, n)]),
            ),
          }
        : undefined,
    );
  if (described.terraform)
    await execa(shared.tools.terraform, ['init', '-input=false', '-no-color'], { cwd: terraformDir });
  // The running VMs recorded in the state, once their Talos API answers: a config apply per node
  // (the config-apply shape) reaches its node then, and finds the config it already runs. The
  // proxmox provider adopts when told by its environment, as `terraform import` would.
  const adoptVms = async () => {
    if (!described.terraform) return;
    await execa(shared.tools.terraform, ['apply', '-auto-approve', '-input=false', '-no-color'], {
      cwd: terraformDir,
      env: { TALOS_LAB_ADOPT: '1' },
    });
  };
  // A fleet's worker finds each cluster's credentials as <dir>/<cluster>/kubeconfig and talosconfig.
  const kubeconfig = shared.memberKubeconfig ? join(clusterDir, 'kubeconfig') : shared.kubeconfig;
  if (shared.memberKubeconfig)
    await writeFile(kubeconfig, shared.memberKubeconfig(state.cluster), { mode: 0o600 });
  const envFile = join(clusterDir, 'lab.env');
  const apiUrl = `${shared.apiUrl}${apiPath}`;
  await writeEnvFile(envFile, {
    TALOS_LAB_DIR: clusterDir,
    KUBECONFIG: kubeconfig,
    TALOSCONFIG: talosconfig,
    TALOSCTL: shared.tools.talosctl,
    TERRAFORM: shared.tools.terraform,
    SOPS: shared.tools.sops,
    KUBECTL: shared.tools.kubectl,
    TALOS_LAB_REGISTRY: shared.registryUrl,
    TALOS_LAB_RELEASES_URL: `${shared.registryUrl}/releases`,
    // Where GitHub's API is for the clients here (no internet): the lab serves siderolabs/talos's
    // releases as GitHub lists them, which the worker reads as it would GitHub's.
    TALOS_UPGRADE_RELEASES_API_URL: shared.registryUrl,
  });
  lab.record(
    'lab-up',
    undefined,
    `${state.cluster}: ${state.nodes.length} nodes at Talos ${state.nodes[0]?.talosVersion}`,
  );
  const info: DaemonInfo = {
    status: 'ready',
    pid: process.pid,
    preset: shared.preset,
    apiUrl,
    registryUrl: shared.registryUrl,
    kubeconfig,
    talosconfig,
    envFile,
    repository: repoDir,
    startedAt: new Date().toISOString(),
    readyAt: new Date().toISOString(),
  };
  return { lab, info, secretsDir, adoptVms };
}

/**
 * Every node starts with its role's machine config as a real cluster's are set up: the Image
 * Factory's installer for the node's schematic (at the lab registry, as a pull-through mirror would
 * be) and its extra kernel arguments in machine.install; every node carries the preset's global patch
 * and a GPU node its GPU patch, merged in as `--config-patch` does. `talos-upgrade init` reads the
 * installer and the arguments from there, and finds the patches by comparing the repository's with it.
 */
async function loadMachineConfigs(
  lab: LabCluster,
  described: ClusterPreset,
  secrets: ClusterSecrets,
  registryHost: string,
): Promise<void> {
  // The role's Image Factory installer (at the lab registry, as a mirror would serve it), written here
  // from the preset's form rather than with the product's installerImage: a bug there is not the lab's.
  const roleInstaller = (role: 'controlplane' | 'worker', version: string) =>
    mirroredInstaller(described.images.installer, registryHost)
      .replaceAll('{schematic}', roleSchematic(described, role))
      .replaceAll('{version}', version);
  // The role configs as `talosctl gen config --install-image <its Image Factory installer>` writes them
  // for VMs of the factory's images: what a rebuilt VM is configured with, and init reads its schematic from.
  const firstVersion = lab.state.nodes[0]?.talosVersion ?? INITIAL_TALOS;
  const texts = { controlplane: '', worker: '' };
  for (const role of ['controlplane', 'worker'] as const) {
    const file = secrets.machineConfigs[role];
    const docs = parseAllDocuments(await readFile(file, 'utf8'));
    const main = docs.find((doc) => doc.has('machine'));
    main?.setIn(['machine', 'install', 'image'], roleInstaller(role, firstVersion));
    // The VLANs every node of the role carries, as `talosctl gen config --config-patch-<role>` puts
    // them in the role's config: Talos makes VLAN links only from the config (lab/talos/links.ts).
    const roleVlans = vlanDevices(described.nodes.filter((n) => n.role === role));
    if (main && roleVlans.length) main.setIn(['machine', 'network', 'interfaces'], roleVlans);
    texts[role] = docs.map((doc) => doc.toString()).join('---\n');
    await writeFile(file, texts[role]);
  }
  for (const node of described.nodes) {
    const docs = parseAllDocuments(texts[node.role]);
    // The v1alpha1 document is the one with `machine`; Talos 1.12 configs may carry others.
    const main = docs.find((doc) => doc.has('machine'));
    const version = lab.state.nodes.find((n) => n.name === node.name)?.talosVersion ?? INITIAL_TALOS;
    // The role's installer, on a GPU worker too: its config came from the role's, and it was moved to
    // its own schematic by `talosctl upgrade --image`, which leaves the config as it was. What it runs
    // is in its extensions (`talosctl get extensions`), not in machine.install.image.
    main?.setIn(['machine', 'install', 'image'], roleInstaller(node.role, version));
    // A node's VLANs beyond its role's were patched in on that node alone (its role config lacks them).
    const ownVlans = vlanDevices([node]);
    if (main && ownVlans.length) main.setIn(['machine', 'network', 'interfaces'], ownVlans);
    const kernelArgs = presetKernelArgs(described, node);
    if (kernelArgs.length) main?.setIn(['machine', 'install', 'extraKernelArgs'], kernelArgs);
    if (main && described.globalPatches.length) mergePatch(main, GLOBAL_PATCH);
    if (node.gpu && main) mergePatch(main, gpuPatch());
    lab.machineConfigs.set(node.name, docs.map((doc) => doc.toString()).join('---\n'));
  }
}

/**
 * The v1alpha1 devices (`machine.network.interfaces`) for the VLANs on each NIC that all the nodes
 * carry: a device per parent NIC with its `vlans[].vlanId`, no address (DHCP or none, as the lab's
 * networks need none; Talos validates a device with only an interface and VLANs).
 */
function vlanDevices(
  nodes: ClusterPreset['nodes'],
): Array<{ interface: string; vlans: Array<{ vlanId: number }> }> {
  const key = (nic: { name: string; vlan: number | 'native' }) => `${nic.name}.${nic.vlan}`;
  const shared = (nodes[0]?.nics ?? []).filter(
    (nic) => nic.vlan !== 'native' && nodes.every((n) => n.nics.some((other) => key(other) === key(nic))),
  );
  const parents = [...new Set(shared.map((nic) => nic.name))];
  return parents.map((parent) => ({
    interface: parent,
    vlans: shared.filter((nic) => nic.name === parent).map((nic) => ({ vlanId: nic.vlan as number })),
  }));
}

function blockAt(blocks: AddressBlock[], index: number): AddressBlock {
  const block = blocks[index];
  if (!block) throw new Error(`no loopback block ${index} was allocated`);
  return block;
}

function mustParse(text: string, origin: string): ClusterPreset {
  return parsePreset(text, `${origin} moved onto loopback addresses`);
}

/** Waits until the fleet's nodes are Ready and its pods Running (the preset's own seed waits by itself). */
async function waitForFleet(kc: KubeConfig, nodes: number, pods: number): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  await waitUntil(
    `${nodes} Ready nodes and ${pods} Running pods`,
    async (signal) => {
      const list = await core.listNode({}, abortable(signal));
      const ready = list.items.filter((n) =>
        n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
      );
      if (ready.length < nodes) return false;
      const running = await core.listPodForAllNamespaces(
        { fieldSelector: 'status.phase=Running' },
        abortable(signal),
      );
      return running.items.length >= pods;
    },
    { timeoutMs: 600_000, intervalMs: 1000 },
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      dir: { type: 'string' },
      preset: { type: 'string', default: 'prox-ops' },
      'reboot-seconds': { type: 'string', default: '3' },
      'vm-boot-seconds': { type: 'string', default: '3' },
      'image-pull-seconds': { type: 'string', default: '2' },
      'install-seconds': { type: 'string', default: '1' },
      'template-build-seconds': { type: 'string', default: '0' },
      'kubelet-ready-seconds': { type: 'string', default: '1' },
      'node-grace-seconds': { type: 'string', default: '2' },
      talos: { type: 'string', default: INITIAL_TALOS },
      'max-unavailable-workers': { type: 'string' },
      'terraform-shape': { type: 'string', default: 'module-per-node' },
      fleet: { type: 'string', default: '0' },
    },
  });
  const dir = values.dir ?? '';
  const preset = values.preset ?? '';
  const fleet = Number(values.fleet);
  const terraformShape = values['terraform-shape'] ?? '';
  if (!dir || !isPreset(preset) || !Number.isInteger(fleet) || fleet < 0 || !isTerraformShape(terraformShape))
    throw new Error(
      `usage: daemon --dir <dir> --preset prox-ops|atlas|portkey [--fleet <n>] [--terraform-shape ${TERRAFORM_SHAPES.join('|')}]`,
    );
  const info: DaemonInfo = {
    status: 'starting',
    pid: process.pid,
    preset,
    startedAt: new Date().toISOString(),
  };
  await writeDaemonInfo(dir, info);

  const presetPath = presetFile(preset);
  const presetText = await readFile(presetPath, 'utf8');
  const parsed = { described: parsePreset(presetText, presetPath) };
  // Each cluster's nodes answer on a loopback block of their own, as Talos nodes on their network.
  const blocks = await allocateBlocks(Math.max(1, fleet), parsed.described.nodes.length);

  progress('checking tools (the first run builds them)');
  const tools = await ensureTools('kube', 'kwok', 'terraform', 'talos', 'sops');
  const expectedNodes = parsed.described.nodes.length * Math.max(1, fleet);
  const kubeClientCa = join(dir, 'kube-client-ca');
  await execa(tools['talos-lab-api'], ['kube-ca', '--dir', kubeClientCa]);
  const controlPlane = await startControlPlane(
    join(dir, 'kube'),
    tools,
    progress,
    expectedNodes,
    join(kubeClientCa, 'client-ca.crt'),
  );
  startedServers.push(() => controlPlane.stop());
  // One TLS connection reused, not a handshake per request on the daemon and on the API server.
  const kc = new KeepAliveKubeConfig();
  kc.loadFromFile(controlPlane.kubeconfigPath);
  const nodeCache = new NodeCache(kc);

  const clusters = new Map<string, LabCluster>();
  const stops: Array<() => void> = [];
  const stopProcesses: ManagedProcess[] = [];
  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    progress('stopping');
    for (const stop of stops) stop();
    for (const proc of stopProcesses) await proc.stop();
    nodeCache.stop();
    await controlPlane.stop();
    await writeDaemonInfo(dir, { ...info, status: 'stopped' });
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown());
  process.on('SIGINT', () => void shutdown());
  // Both bind a port the system picks as they bind (read back below): none can be taken first.
  const api = await startApi(clusters, () => void shutdown());
  const registry = await startRegistry(() => [...clusters.values()]);
  stops.push(
    () => api.close(),
    () => registry.close(),
  );
  const apiUrl = `http://127.0.0.1:${boundPort(api)}`;
  const registryUrl = `http://127.0.0.1:${boundPort(registry)}`;
  await writeDaemonInfo(dir, { ...info, apiUrl, registryUrl });
  const maxUnavailable = values['max-unavailable-workers'];
  const shared: Shared = {
    dir,
    preset,
    kc,
    kubeconfig: controlPlane.kubeconfigPath,
    tools,
    timing: {
      rebootSeconds: Number(values['reboot-seconds']),
      vmBootSeconds: Number(values['vm-boot-seconds']),
      imagePullSeconds: Number(values['image-pull-seconds']),
      installSeconds: Number(values['install-seconds']),
      templateBuildSeconds: Number(values['template-build-seconds']),
      kubeletReadySeconds: Number(values['kubelet-ready-seconds']),
      nodeGraceSeconds: Number(values['node-grace-seconds']),
    },
    registryUrl,
    apiUrl,
    talos: values.talos ?? INITIAL_TALOS,
    terraformShape,
    ...(maxUnavailable ? { maxUnavailableWorkers: Number(maxUnavailable) } : {}),
  };

  let ready: DaemonInfo;
  // The lab's Rook for a preset with Rook-Ceph, started with the monitor once the node cache is in.
  let startRook = () => {};
  const talosClusters: Array<{
    lab: LabCluster;
    daemonUrl: string;
    secretsDir: string;
    adoptVms: () => Promise<void>;
  }> = [];
  if (fleet === 0) {
    const described = mustParse(onLoopback(presetText, blockAt(blocks, 0)), presetPath);
    const {
      lab,
      info: clusterInfo,
      secretsDir,
      adoptVms,
    } = await setUpCluster(
      shared,
      dir,
      presetPath,
      described,
      (lab) => seedCluster(kc, described, lab.state, progress),
      '',
    );
    clusters.set(lab.state.cluster, lab);
    talosClusters.push({ lab, daemonUrl: apiUrl, secretsDir, adoptVms });
    ready = { ...clusterInfo, startedAt: info.startedAt };
    const osdHosts = storageHosts(described);
    if (osdHosts.length > 0) {
      const rook = new RookCephSim(lab, nodeCache, osdHosts);
      lab.rookCeph = () => rook.writeStatusNow();
      startRook = () => {
        stops.push(rook.start());
        stops.push(startCsiAttacher(lab));
      };
    }
  } else {
    progress(`building a fleet of ${fleet} ${preset} clusters on one API server`);
    const view = await startFleetView({
      upstream: controlPlane.server,
      caFile: controlPlane.caFile,
      certFile: controlPlane.caFile,
      keyFile: controlPlane.caFile.replace(/\.crt$/, '.key'),
    });
    stops.push(() => void view.close());
    const caPem = await readFile(controlPlane.caFile, 'utf8');
    const token = kc.getCurrentUser()?.token ?? '';
    shared.memberKubeconfig = (name) => kubeconfigYaml(view.urlFor(name), caPem, token);
    const members: Array<{ name: string; dir: string; repository: string; talosconfig: string }> = [];
    let expectedPods = 0;
    for (let index = 1; index <= fleet; index++) {
      const name = fleetMemberName(preset, index);
      const memberDir = join(dir, 'clusters', name);
      await mkdir(memberDir, { recursive: true });
      const member = fleetMemberPreset(onLoopback(presetText, blockAt(blocks, index - 1)), name);
      const {
        lab,
        info: memberInfo,
        secretsDir,
        adoptVms,
      } = await setUpCluster(
        shared,
        memberDir,
        `${presetPath} (fleet member ${name})`,
        member.described,
        async (lab) => void (expectedPods += await seedFleetMember(kc, lab.state)),
        `/clusters/${name}`,
      );
      clusters.set(name, lab);
      talosClusters.push({ lab, daemonUrl: `${apiUrl}/clusters/${name}`, secretsDir, adoptVms });
      await writeDaemonInfo(memberDir, memberInfo);
      members.push({
        name,
        dir: memberDir,
        repository: memberInfo.repository ?? '',
        talosconfig: memberInfo.talosconfig ?? '',
      });
      if (index % 10 === 0 || index === fleet) progress(`${index}/${fleet} clusters registered`);
    }
    progress('waiting for every node Ready and every pod Running');
    await waitForFleet(kc, fleet * parsed.described.nodes.length, expectedPods);
    await writeFile(join(dir, 'fleet.json'), JSON.stringify({ preset, clusters: members }, null, 2));
    const envFile = join(dir, 'lab.env');
    await writeEnvFile(envFile, {
      TALOS_LAB_DIR: dir,
      TALOS_LAB_FLEET: join(dir, 'fleet.json'),
      KUBECONFIG: controlPlane.kubeconfigPath,
      TALOSCTL: tools.talosctl,
      TERRAFORM: tools.terraform,
      SOPS: tools.sops,
      KUBECTL: tools.kubectl,
      // Each member's kubeconfig and talosconfig, where `talos-upgrade worker` looks for them.
      TALOS_UPGRADE_CREDENTIALS_DIR: join(dir, 'clusters'),
      TALOS_LAB_REGISTRY: registryUrl,
      TALOS_LAB_RELEASES_URL: `${registryUrl}/releases`,
      TALOS_UPGRADE_RELEASES_API_URL: registryUrl,
    });
    const first = members[0];
    ready = {
      ...info,
      status: 'ready',
      apiUrl,
      registryUrl,
      kubeconfig: controlPlane.kubeconfigPath,
      envFile,
      ...(first ? { talosconfig: first.talosconfig, repository: first.repository } : {}),
      readyAt: new Date().toISOString(),
    };
  }
  progress('starting the Talos API of every node');
  const talosApi = await startTalosApi(tools['talos-lab-api'], dir, talosClusters, {
    server: controlPlane.server,
    caFile: controlPlane.caFile,
    clientCaCert: join(kubeClientCa, 'client-ca.crt'),
    clientCaKey: join(kubeClientCa, 'client-ca.key'),
  });
  startedServers.push(() => talosApi.process.stop());
  for (const { lab } of talosClusters) lab.talosApi = talosApi;
  progress('recording the running VMs in the Terraform state');
  for (const { adoptVms } of talosClusters) await adoptVms();
  stopProcesses.push(talosApi.process);
  await waitForBootstrapManifests(
    kc,
    talosClusters.map(({ lab }) => lab),
    progress,
  );
  await nodeCache.ready();
  for (const lab of clusters.values()) stops.push(startMonitor(lab, nodeCache));
  startRook();
  await writeDaemonInfo(dir, ready);
  progress('ready');
}

main().catch(async (error: unknown) => {
  console.error('[lab] failed:', error);
  // A lab that fails half-way stops what it started: no server may keep its ports or loopback addresses.
  for (const stop of startedServers.reverse()) await stop().catch(() => undefined);
  const dir = process.argv[process.argv.indexOf('--dir') + 1];
  if (dir) {
    await writeDaemonInfo(dir, {
      status: 'failed',
      pid: process.pid,
      preset: '',
      error: error instanceof Error ? error.message : String(error),
      startedAt: new Date().toISOString(),
    }).catch(() => undefined);
  }
  process.exit(1);
});
