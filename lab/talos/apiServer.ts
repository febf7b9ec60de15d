import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { talosApiMode, type LabCluster, type TalosApiControl } from '../daemon/labCluster.js';
import { startProcess, waitUntil, type ManagedProcess } from '../process/managedProcess.js';

export interface ClusterSecrets {
  /** The controlplane and worker machine configs, as `talosctl gen config` writes them. */
  machineConfigs: { controlplane: string; worker: string };
}

/**
 * A cluster's secrets bundle, machine configs and admin talosconfig, made by the lab Talos API
 * binary with Talos's own generators. They live in the cluster's lab directory only.
 */
export async function generateClusterSecrets(
  binary: string,
  options: {
    secretsDir: string;
    cluster: string;
    talosconfig: string;
    endpoints: string[];
    kubernetesEndpoint: string;
    kubernetesVersion: string;
    talosVersion: string;
  },
): Promise<ClusterSecrets> {
  await execa(binary, [
    'pki',
    '--dir',
    options.secretsDir,
    '--cluster',
    options.cluster,
    '--talosconfig',
    options.talosconfig,
    '--endpoints',
    options.endpoints.join(','),
    '--kubernetes-endpoint',
    options.kubernetesEndpoint,
    '--kubernetes-version',
    options.kubernetesVersion,
    '--talos-version',
    `v${options.talosVersion}`,
  ]);
  return {
    machineConfigs: {
      controlplane: join(options.secretsDir, 'controlplane.yaml'),
      worker: join(options.secretsDir, 'worker.yaml'),
    },
  };
}

export interface TalosApiServer extends TalosApiControl {
  process: ManagedProcess;
}

/**
 * Starts the lab Talos API server for every cluster of the lab: each node listens on its loopback
 * address at port 50000 in the mode its power gives, and asks the daemon (`daemonUrl`) about itself.
 */
export async function startTalosApi(
  binary: string,
  dir: string,
  clusters: Array<{ lab: LabCluster; daemonUrl: string; secretsDir: string }>,
  kube: { server: string; caFile: string; clientCaCert: string; clientCaKey: string },
): Promise<TalosApiServer> {
  const config = {
    kube,
    clusters: clusters.map(({ lab, daemonUrl, secretsDir }) => ({
      name: lab.state.cluster,
      daemonUrl,
      pkiDir: secretsDir,
      nodes: lab.state.nodes.map((n) => ({ ip: n.ip, name: n.name, mode: talosApiMode(n.power) })),
    })),
  };
  const configFile = join(dir, 'talos-api.json');
  await writeFile(configFile, JSON.stringify(config, null, 2));
  // Port 0: the server binds a port the system picks and prints it (`ready control=127.0.0.1:N`), so
  // no other server can take it between a pick and the bind.
  const process = startProcess(
    'talos-api',
    binary,
    ['serve', '--config', configFile, '--control', '127.0.0.1:0'],
    dir,
  );
  let controlUrl = '';
  try {
    await waitUntil(
      'the lab Talos API',
      async (signal) => {
        const ready = /^ready control=(\S+)$/m.exec(await process.lastLines(50));
        if (!ready) return false;
        controlUrl = `http://${ready[1]}`;
        return (await fetch(`${controlUrl}/healthz`, { signal })).ok;
      },
      { timeoutMs: 30_000, process },
    );
  } catch (error) {
    await process.stop(); // it may hold nodes' :50000 listeners
    throw error;
  }
  return {
    process,
    async setMode(ip, mode, ready) {
      const response = await fetch(`${controlUrl}/mode`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ ip, mode, ready }),
      });
      if (!response.ok)
        throw new Error(`the lab Talos API refused ${mode} for ${ip}: ${await response.text()}`);
    },
  };
}
