import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { withFreshPorts } from '../net/freshPorts.js';
import { startProcess, waitUntil, type ManagedProcess } from '../process/managedProcess.js';
import { abortable } from '../../src/activities/abortable.js';
import { kubeconfigYaml } from './kubeconfig.js';
import { kwokStagesYaml } from './kwokStages.js';

export interface KubeBinaries {
  etcd: string;
  'kube-apiserver': string;
  'kube-controller-manager': string;
  'kube-scheduler': string;
  kwok: string;
}

export interface ControlPlane {
  server: string;
  /** The API server's self-signed serving certificate, which is its own CA. */
  caFile: string;
  kubeconfigPath: string;
  processes: ManagedProcess[];
  stop(): Promise<void>;
}

type Progress = (message: string) => void;

/**
 * How often the simulated kubelets report. A real kubelet renews its Lease every 10 s and posts its
 * status only on change or every 5 min; kwok renews a lease every quarter of its duration. A
 * cluster-sized lab keeps the kubelet's pace, so a stopped node turns NotReady within 20 s. A fleet of
 * hundreds of nodes on one 2-core machine would spend most of its CPU on those heartbeats (750 nodes:
 * ~240 writes/s), so beyond 100 nodes leases are renewed every 30 s and silence is tolerated for 90 s.
 */
export function heartbeatPace(nodes: number): {
  leaseSeconds: number;
  gracePeriodSeconds: number;
  statusHeartbeatMs: number;
} {
  return nodes > 100
    ? { leaseSeconds: 120, gracePeriodSeconds: 90, statusHeartbeatMs: 120_000 }
    : { leaseSeconds: 40, gracePeriodSeconds: 20, statusHeartbeatMs: 10_000 };
}

/** The ports etcd and the API server listen on; free ones are picked when not given. */
export interface ControlPlanePorts {
  etcdClient: number;
  etcdPeer: number;
  api: number;
}

/**
 * A real Kubernetes control plane on 127.0.0.1: etcd, kube-apiserver, kube-controller-manager and
 * kube-scheduler from the pinned release, and kwok playing every kubelet. Everything lives under
 * `dir` and is started fresh each time; when etcd or the API server finds its port taken, all of it
 * is started again on new ports. `firstPorts` (tests) are tried first.
 */
export function startControlPlane(
  dir: string,
  bin: KubeBinaries,
  progress: Progress,
  expectedNodes = 0,
  clientCaFile?: string,
  firstPorts?: ControlPlanePorts,
): Promise<ControlPlane> {
  return withFreshPorts(
    'the lab control plane',
    async (pick, attempt) => {
      const given = attempt === 1 ? firstPorts : undefined;
      const ports = {
        etcdClient: await pick(given?.etcdClient),
        etcdPeer: await pick(given?.etcdPeer),
        api: await pick(given?.api),
      };
      return startOnce(dir, bin, progress, expectedNodes, clientCaFile, ports);
    },
    { progress },
  );
}

async function startOnce(
  dir: string,
  bin: KubeBinaries,
  progress: Progress,
  expectedNodes: number,
  clientCaFile: string | undefined,
  ports: ControlPlanePorts,
): Promise<ControlPlane> {
  const pace = heartbeatPace(expectedNodes);
  const etcdDir = join(dir, 'etcd');
  const logs = join(dir, 'logs');
  const certs = join(dir, 'certs');
  // Nothing of an earlier attempt: its etcd data, and its serving certificate, which the wait below
  // would take for this attempt's (a key written apart from it would then not match).
  await Promise.all([etcdDir, certs].map((d) => rm(d, { recursive: true, force: true })));
  await Promise.all([mkdir(logs, { recursive: true }), mkdir(certs, { recursive: true })]);

  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const saKey = join(certs, 'service-account.key');
  const saPub = join(certs, 'service-account.pub');
  await writeFile(saKey, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  await writeFile(saPub, publicKey.export({ type: 'spki', format: 'pem' }));
  const token = randomBytes(24).toString('hex');
  await writeFile(join(certs, 'tokens.csv'), `${token},lab-admin,lab-admin-uid,"system:masters"\n`, {
    mode: 0o600,
  });

  const { etcdClient, etcdPeer, api: apiPort } = ports;
  const processes: ManagedProcess[] = [];
  const stop = async () => {
    for (const proc of [...processes].reverse()) await proc.stop();
  };

  try {
    progress('starting etcd');
    const etcdUrl = `http://127.0.0.1:${etcdClient}`;
    const peerUrl = `http://127.0.0.1:${etcdPeer}`;
    const etcd = startProcess(
      'etcd',
      bin.etcd,
      [
        '--name=lab',
        `--data-dir=${etcdDir}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=lab=${peerUrl}`,
        '--unsafe-no-fsync=true', // a throw-away lab: durability is not the point, speed is
        '--log-level=warn',
      ],
      logs,
    );
    processes.push(etcd);

    progress('starting kube-apiserver');
    const apiserver = startProcess(
      'kube-apiserver',
      bin['kube-apiserver'],
      [
        `--etcd-servers=${etcdUrl}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${apiPort}`,
        `--cert-dir=${certs}`,
        `--token-auth-file=${join(certs, 'tokens.csv')}`,
        // Client certificates from this CA are what the lab Talos API's Kubeconfig call hands out.
        ...(clientCaFile ? [`--client-ca-file=${clientCaFile}`] : []),
        '--authorization-mode=RBAC',
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        `--service-account-key-file=${saPub}`,
        `--service-account-signing-key-file=${saKey}`,
        '--service-cluster-ip-range=10.96.0.0/16',
        '--allow-privileged=true',
        '--enable-priority-and-fairness=false',
        '--profiling=false',
        '--endpoint-reconciler-type=none',
      ],
      logs,
    );
    processes.push(apiserver);
    const server = `https://127.0.0.1:${apiPort}`;
    // The API server writes its self-signed serving certificate (with its CA) on start.
    const caFile = join(certs, 'apiserver.crt');
    await waitUntil(
      'the API server certificate',
      async (signal) => (await readFile(caFile, { encoding: 'utf8', signal })).includes('BEGIN CERTIFICATE'),
      // etcd too: the API server outlives an etcd that could not bind, retrying it until the timeout.
      { timeoutMs: 60_000, process: [etcd, apiserver] },
    );
    const kubeconfigPath = join(dir, 'kubeconfig');
    await writeFile(kubeconfigPath, kubeconfigYaml(server, await readFile(caFile, 'utf8'), token), {
      mode: 0o600,
    });
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfigPath);
    const core = kc.makeApiClient(CoreV1Api);
    await waitUntil(
      'the API server to serve requests',
      async (signal) => {
        await core.readNamespace({ name: 'default' }, abortable(signal));
        return true;
      },
      { timeoutMs: 90_000, process: [etcd, apiserver], intervalMs: 300 },
    );

    progress('starting kube-controller-manager, kube-scheduler and kwok');
    processes.push(
      startProcess(
        'kube-controller-manager',
        bin['kube-controller-manager'],
        [
          `--kubeconfig=${kubeconfigPath}`,
          '--leader-elect=false',
          // No serving port (nothing reads their health endpoints): a port picked free seconds earlier
          // was taken by another suite's server once, the scheduler died on "address already in use"
          // and the lab waited out its 120 s for pods that were never scheduled.
          '--secure-port=0',
          `--cert-dir=${certs}`,
          `--service-account-private-key-file=${saKey}`,
          `--root-ca-file=${caFile}`,
          '--use-service-account-credentials=false',
          '--authentication-skip-lookup=true',
          // How long a silent node stays Ready: short enough that a dead lab node shows quickly.
          `--node-monitor-grace-period=${pace.gracePeriodSeconds}s`,
        ],
        logs,
      ),
      startProcess(
        'kube-scheduler',
        bin['kube-scheduler'],
        [
          `--kubeconfig=${kubeconfigPath}`,
          '--leader-elect=false',
          '--secure-port=0',
          `--cert-dir=${certs}`,
          '--authentication-skip-lookup=true',
        ],
        logs,
      ),
    );
    const stagesFile = join(dir, 'kwok-stages.yaml');
    await writeFile(stagesFile, kwokStagesYaml({ statusHeartbeatMs: pace.statusHeartbeatMs }));
    processes.push(
      startProcess(
        'kwok',
        bin.kwok,
        [
          `--kubeconfig=${kubeconfigPath}`,
          `--config=${stagesFile}`,
          '--manage-all-nodes=true',
          '--cidr=10.244.0.1/16',
          `--node-lease-duration-seconds=${pace.leaseSeconds}`,
        ],
        logs,
      ),
    );
    return { server, caFile, kubeconfigPath, processes, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
