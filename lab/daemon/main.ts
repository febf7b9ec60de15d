import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { parseInventory } from '../../src/domain/index.js';
import { seedCluster } from '../cluster/seedCluster.js';
import { isPreset, presetInventoryFile } from '../cluster/presets.js';
import { startControlPlane } from '../kube/controlPlane.js';
import { freePort } from '../net/freePort.js';
import { writeLabRepository } from '../repo/labRepository.js';
import { writeTerraformWorkspace } from '../repo/terraformWorkspace.js';
import { initialState } from '../state/labState.js';
import { ensureTools } from '../tools.js';
import { startApi } from './api.js';
import { writeDaemonInfo, type DaemonInfo } from './daemonFile.js';
import { LabCluster } from './labCluster.js';
import { startMonitor } from './monitor.js';
import { startRegistry } from './registry.js';

const TALOSCTL = fileURLToPath(new URL('../bin/talosctl', import.meta.url));
const LAB_VM = fileURLToPath(new URL('../bin/lab-vm.js', import.meta.url));

const progress = (message: string) => console.log(`[lab] ${message}`);

/** The talosconfig of the lab: a real context with the control-plane endpoints (no real keys). */
function talosconfigYaml(cluster: string, endpoints: string[]): string {
  const fake = (what: string) => Buffer.from(`talos-lab ${what}: not a real credential`).toString('base64');
  return stringify({
    context: cluster,
    contexts: {
      [cluster]: {
        endpoints,
        nodes: endpoints.slice(0, 1),
        ca: fake('ca'),
        crt: fake('crt'),
        key: fake('key'),
      },
    },
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      dir: { type: 'string' },
      preset: { type: 'string', default: 'prox-ops' },
      'reboot-seconds': { type: 'string', default: '3' },
      'vm-boot-seconds': { type: 'string', default: '3' },
      'max-unavailable-workers': { type: 'string' },
    },
  });
  const dir = values.dir ?? '';
  const preset = values.preset ?? '';
  if (!dir || !isPreset(preset)) throw new Error('usage: daemon --dir <dir> --preset prox-ops|atlas|portkey');
  const info: DaemonInfo = {
    status: 'starting',
    pid: process.pid,
    preset,
    startedAt: new Date().toISOString(),
  };
  await writeDaemonInfo(dir, info);

  const exampleFile = presetInventoryFile(preset);
  const parsed = parseInventory(await readFile(exampleFile, 'utf8'));
  if (!parsed.ok) throw new Error(`${exampleFile} is not a valid inventory`);
  const inventory = parsed.inventory;

  progress('checking tools (the first run builds them)');
  const tools = await ensureTools('kube', 'kwok', 'terraform');
  const kubeDir = join(dir, 'kube');
  const controlPlane = await startControlPlane(kubeDir, tools, progress);

  const repoDir = join(dir, 'repo');
  await rm(repoDir, { recursive: true, force: true });
  const state = initialState(preset, exampleFile, inventory);
  if (values['max-unavailable-workers'])
    state.maxUnavailableWorkers = Number(values['max-unavailable-workers']);
  const kc = new KubeConfig();
  kc.loadFromFile(controlPlane.kubeconfigPath);
  const terraformDir = join(repoDir, 'terraform');
  const lab = new LabCluster(
    state,
    kc,
    dir,
    { rebootSeconds: Number(values['reboot-seconds']), vmBootSeconds: Number(values['vm-boot-seconds']) },
    {
      dir: repoDir,
      terraform: { binary: tools.terraform, dir: terraformDir },
      gpuPatches: Object.fromEntries(
        inventory.nodes.filter((n) => n.gpu).map((n) => [n.name, n.gpu?.patches ?? []]),
      ),
    },
  );
  await seedCluster(kc, inventory, state, progress);

  const [apiPort, registryPort] = [await freePort(), await freePort()];
  let stopMonitor = () => {};
  const servers: Array<{ close: () => void }> = [];
  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    progress('stopping');
    stopMonitor();
    for (const server of servers) server.close();
    await controlPlane.stop();
    await writeDaemonInfo(dir, { ...info, status: 'stopped' });
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown());
  process.on('SIGINT', () => void shutdown());
  servers.push(await startApi(lab, apiPort, () => void shutdown()), await startRegistry(lab, registryPort));
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const registryUrl = `http://127.0.0.1:${registryPort}`;
  await writeDaemonInfo(dir, { ...info, apiUrl, registryUrl });

  progress('writing the lab repository and its Terraform state');
  const inventoryFile = await writeLabRepository(
    repoDir,
    exampleFile,
    inventory,
    `127.0.0.1:${registryPort}`,
    dir,
  );
  await mkdir(join(dir, 'backups'), { recursive: true });
  if (inventory.terraform) {
    await writeTerraformWorkspace(terraformDir, state, `node ${LAB_VM} --lab-dir ${dir}`);
    await execa(tools.terraform, ['init', '-input=false', '-no-color'], { cwd: terraformDir });
    await execa(
      tools.terraform,
      ['apply', '-auto-approve', '-input=false', '-no-color', '-var', 'adopt=true'],
      { cwd: terraformDir },
    );
  }
  const talosconfig = join(dir, 'talosconfig');
  await writeFile(
    talosconfig,
    talosconfigYaml(
      state.cluster,
      lab.controlPlane().map((n) => n.ip),
    ),
    { mode: 0o600 },
  );
  const envFile = join(dir, 'lab.env');
  const env: Record<string, string> = {
    TALOS_LAB_DIR: dir,
    KUBECONFIG: controlPlane.kubeconfigPath,
    TALOSCONFIG: talosconfig,
    TALOSCTL: TALOSCTL,
    TERRAFORM: tools.terraform,
    KUBECTL: tools.kubectl,
    TALOS_UPGRADE_INVENTORY: inventoryFile,
    TALOS_LAB_REGISTRY: registryUrl,
    TALOS_LAB_RELEASES_URL: `${registryUrl}/releases`,
    // The worker's own name for it, so `talos-upgrade worker` runs on the lab with lab.env as is.
    TALOS_UPGRADE_RELEASES_URL: `${registryUrl}/releases`,
  };
  await writeFile(
    envFile,
    Object.entries(env)
      .map(([k, v]) => `${k}=${v}`)
      .join('\n') + '\n',
  );

  stopMonitor = startMonitor(lab);
  lab.record(
    'lab-up',
    undefined,
    `${preset}: ${state.nodes.length} nodes at Talos ${state.nodes[0]?.talosVersion}`,
  );
  await writeDaemonInfo(dir, {
    ...info,
    status: 'ready',
    apiUrl,
    registryUrl,
    kubeconfig: controlPlane.kubeconfigPath,
    talosconfig,
    envFile,
    inventory: inventoryFile,
    readyAt: new Date().toISOString(),
  });
  progress('ready');
}

main().catch(async (error: unknown) => {
  console.error('[lab] failed:', error);
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
