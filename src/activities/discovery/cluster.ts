import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import {
  imageExtensions,
  linkNics,
  missingKernelArgs,
  type ExtensionStatus,
  type TalosLink,
} from '../../domain/index.js';
import type { DiscoveredCluster, DiscoveredNode } from '../../domain/discovery/discovered.js';
import { carriesPatch } from '../../domain/discovery/configPatches.js';
import { parseInstallerImage } from '../../domain/discovery/installerImage.js';
import { abortableApiClient } from '../abortable.js';
import { parseJsonStream } from '../jsonStream.js';
import { runCommand } from '../runCommand.js';
import { parseServerTag } from '../talosctl.js';
import type { RepositoryPatch } from './repository.js';

/**
 * A kernel argument that carries a credential (talos.config=https://…?token=…, siderolink.api=…?jointoken=…):
 * never written into an inventory, which is meant for Git.
 */
function isCredential(arg: string): boolean {
  const [key = '', value = ''] = arg.split(/=(.*)/s);
  return (
    /^(talos\.config|siderolink\.|talos\.platform\.metal\.)/i.test(key) ||
    /[?&]|token|secret|password|key=/i.test(value)
  );
}

export class DiscoveryError extends Error {
  override name = 'DiscoveryError';
}

function internalIp(node: { status?: { addresses?: Array<{ type: string; address: string }> } }) {
  return node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
}

/** A kubeconfig; one that does not load is said without the loader's message, which quotes the file's keys. */
export function loadKubeconfig(file: string): KubeConfig {
  const kc = new KubeConfig();
  try {
    kc.loadFromFile(file);
  } catch {
    throw new DiscoveryError(
      `${file} is not a valid kubeconfig: check the file (kubectl --kubeconfig ${file} get nodes)`,
    );
  }
  return kc;
}

/** How long init waits for the API server to list the nodes and namespaces. */
const KUBERNETES_READ_TIMEOUT_MS = 30_000;

/** Every Node of the cluster the kubeconfig reaches, and its namespaces. */
export async function kubernetesView(kubeconfig: string) {
  const kc = loadKubeconfig(kubeconfig);
  // Bounded: an API server that accepts the connection and never answers would hold init forever.
  const core = abortableApiClient(kc, CoreV1Api, AbortSignal.timeout(KUBERNETES_READ_TIMEOUT_MS));
  const reach = (what: string) => (error: unknown) => {
    const why =
      error instanceof Error && error.name === 'TimeoutError'
        ? `no answer in ${KUBERNETES_READ_TIMEOUT_MS / 1000} s`
        : (error as Error).message;
    throw new DiscoveryError(
      `could not list ${what} with ${kubeconfig}: ${why}. Check that the kubeconfig reaches the cluster (kubectl get nodes).`,
    );
  };
  const [{ items: nodes }, { items: namespaces }] = await Promise.all([
    core.listNode().catch(reach('the nodes')),
    core.listNamespace().catch(reach('the namespaces')),
  ]);
  return {
    nodes: nodes.map((node) => {
      const name = node.metadata?.name ?? '';
      const ip = internalIp(node);
      if (!ip)
        throw new DiscoveryError(`Node ${name} has no InternalIP address: init cannot reach its Talos API`);
      const labels = node.metadata?.labels ?? {};
      return {
        name,
        ip,
        role:
          'node-role.kubernetes.io/control-plane' in labels ? ('controlplane' as const) : ('worker' as const),
        kubeletVersion: (node.status?.nodeInfo?.kubeletVersion ?? '').replace(/^v/, ''),
        gpus: Number(node.status?.allocatable?.['nvidia.com/gpu'] ?? 0),
        // GPU Feature Discovery's label (NVIDIA's GPU operator sets it): the model, spaces as dashes.
        ...(labels['nvidia.com/gpu.product'] ? { gpuProduct: labels['nvidia.com/gpu.product'] } : {}),
      };
    }),
    namespaces: new Set(namespaces.map((ns) => ns.metadata?.name ?? '')),
  };
}

/**
 * What one node's Talos API says: its version, the install section of its config, its NICs, and
 * which of the repository's patches its config carries.
 */
export async function talosView(
  talosctl: string,
  talosconfig: string,
  name: string,
  ip: string,
  patches: RepositoryPatch[] = [],
) {
  const run = async (args: string[], what: string) => {
    const result = await runCommand(talosctl, ['--talosconfig', talosconfig, '-n', ip, ...args], {
      timeoutMs: 30_000,
      input: '',
    });
    if (result.exitCode !== 0)
      throw new DiscoveryError(
        `talosctl could not read ${what} of ${name} (${ip}) with ${talosconfig}: ${result.stderr.trim().split('\n').slice(-2).join(' ')}`,
      );
    return result.stdout;
  };
  const talosVersion = parseServerTag(await run(['version'], 'the Talos version'));
  if (!talosVersion)
    throw new DiscoveryError(`${name} (${ip}) answered talosctl version without a server tag`);
  // The running config holds the cluster's secrets: parsed here for its install section only,
  // never printed nor written.
  const [config] = parseJsonStream<{ spec: string }>(
    await run(['get', 'machineconfig', '-o', 'json'], 'the machine config'),
  );
  const running = parseAllDocuments(config?.spec ?? '')
    .map((doc) => doc.toJS() as { machine?: { install?: { image?: string; extraKernelArgs?: string[] } } })
    .find((doc) => doc?.machine);
  const machine = running?.machine;
  const cmdline =
    parseJsonStream<{ spec?: { cmdline?: string } }>(
      await run(['get', 'kernelcmdlines', '-o', 'json'], 'the kernel command line'),
    )[0]?.spec?.cmdline ?? '';
  const configured = machine?.install?.extraKernelArgs ?? [];
  const secret = configured.filter(isCredential);
  const notBooted = missingKernelArgs(cmdline, configured).filter((arg) => !isCredential(arg));
  const links = linkNics(parseJsonStream<TalosLink>(await run(['get', 'links', '-o', 'json'], 'the links')));
  const installImage = machine?.install?.image;
  const { runningSchematic, extensions } = imageExtensions(
    parseJsonStream<ExtensionStatus>(await run(['get', 'extensions', '-o', 'json'], 'the system extensions')),
  );
  return {
    talosVersion: talosVersion.replace(/^v/, ''),
    ...(installImage ? { installImage } : {}),
    ...(installImage && parseInstallerImage(installImage)
      ? { installer: parseInstallerImage(installImage) }
      : {}),
    ...(runningSchematic ? { runningSchematic } : {}),
    extensions,
    // Only what the node booted with: the product checks the booted command line after each upgrade.
    extraKernelArgs: configured.filter((arg) => !isCredential(arg) && !notBooted.includes(arg)),
    leftOutKernelArgs: { notBooted, secret: secret.length },
    nics: links.physical.map((nic) => {
      const vlan = links.vlans.get(nic)?.[0];
      return { name: nic, vlan: vlan ?? ('native' as const) };
    }),
    extraVlans: links.physical.flatMap((nic) =>
      (links.vlans.get(nic) ?? []).slice(1).map((id) => `${nic}.${id}`),
    ),
    patches: patches.filter((patch) => carriesPatch(patch.documents, running)).map((patch) => patch.path),
  };
}

/** The cluster as the kubeconfig and the talosconfig show it, node by node. */
export async function discoverCluster(options: {
  kubeconfig: string;
  talosconfig: string;
  talosctl: string;
  /** The repository's Talos config patches, named as the inventory will name them. */
  patches?: RepositoryPatch[];
  progress?: (line: string) => void;
}): Promise<DiscoveredCluster> {
  const kube = await kubernetesView(options.kubeconfig);
  if (kube.nodes.length === 0)
    throw new DiscoveryError(`the cluster behind ${options.kubeconfig} has no Nodes`);
  const nodes: DiscoveredNode[] = [];
  for (const node of kube.nodes) {
    options.progress?.(`reading ${node.name} (${node.ip}) through its Talos API`);
    nodes.push({
      ...node,
      ...(await talosView(options.talosctl, options.talosconfig, node.name, node.ip, options.patches)),
    });
  }
  // Controllers first, then workers, each by name: the order an operator reads them in.
  nodes.sort((a, b) =>
    a.role === b.role
      ? a.name.localeCompare(b.name, 'en', { numeric: true })
      : a.role === 'controlplane'
        ? -1
        : 1,
  );
  return { nodes, namespaces: kube.namespaces };
}
