import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { AppsV1Api } from '@kubernetes/client-node';
import { clusterUpgrade } from '../../src/workflows/index.js';
import type { UpgradeRequest } from '../../src/workflows/types.js';
import { startLab, type Lab } from '../lab/labHarness.js';
import { startWorkflowHarness, type WorkflowHarness } from './workflowHarness.js';

let lab: Lab;
let h: WorkflowHarness;
beforeAll(async () => {
  lab = await startLab('atlas');
  h = await startWorkflowHarness(lab);
}, 900_000);
afterAll(async () => {
  await h?.stop();
  await lab?.stop();
});

interface Report {
  violations: unknown[];
  vms: Array<{ node: string; talosVersion: string }>;
  timeline: Array<{ kind: string; node?: string; detail?: string }>;
}
const report = async () => lab.api<Report>('/report');
const run = (id: string, request: Omit<UpgradeRequest, 'requestId' | 'cluster' | 'source'>) =>
  h.client.workflow.execute(clusterUpgrade, {
    taskQueue: h.taskQueue,
    workflowId: `talos-upgrade:atlas:${id}`,
    args: [{ requestId: id, cluster: 'atlas', source: 'test', ...request }],
    workflowExecutionTimeout: '30 minutes',
  });

describe('clusterUpgrade on atlas with the real talosctl, across Talos minors and Kubernetes', () => {
  it('1.11.3 -> 1.12.9 -> 1.13.0 (cattle) with Kubernetes 1.34 -> 1.35 -> 1.36 in one run: recreated nodes configured, upgrade-k8s moves every component', async () => {
    // Kubernetes passes 1.35 on its way to 1.36: its newest patch from kubernetes/kubernetes's GitHub
    // releases (the lab's stand-in of that API lists alphas, betas and rcs too), and 1.36 only once Talos 1.13 runs.
    const result = await run('to-1-13', { talos: { to: '1.13.0' }, kubernetes: { to: '1.36.6' } });
    expect(result.outcome).toBe('succeeded');
    expect(result.hops).toEqual([
      { from: '1.11.3', to: '1.12.9', strategy: 'cattle', reason: 'policy: minor upgrades run as cattle' },
      { from: '1.12.9', to: '1.13.0', strategy: 'cattle', reason: 'policy: minor upgrades run as cattle' },
    ]);
    const r = await report();
    expect(r.violations).toEqual([]);
    expect(r.vms.every((vm) => vm.talosVersion === '1.13.0')).toBe(true);
    // Every recreated node got its machine config in maintenance mode, with --insecure only there.
    const applied = r.timeline.filter((e) => e.kind === 'config-applied');
    expect(applied).toHaveLength(10);
    expect(new Set(applied.map((e) => e.node)).size).toBe(5);
    const steps = r.timeline.filter((e) => e.kind === 'kubernetes-upgraded').map((e) => e.detail);
    expect(steps).toEqual(['1.34.1 -> 1.35.4', '1.35.4 -> 1.36.6']);
    const nodes = await lab.core.listNode();
    expect(nodes.items.map((n) => n.status?.nodeInfo?.kubeletVersion)).toEqual(Array(5).fill('v1.36.6'));
    const pod = await lab.core.readNamespacedPod({
      name: 'kube-apiserver-talos-cp-1',
      namespace: 'kube-system',
    });
    expect(pod.spec?.containers[0]?.image).toBe('registry.k8s.io/kube-apiserver:v1.36.6');
    // The add-ons Talos 1.11 created (a plain create) were left alone by each boot since; the
    // upgrade-k8s on 1.13 nodes synced them server-side with Talos's inventory: kube-proxy on the new
    // release, CoreDNS and flannel on 1.13's defaults, each rolled out before the run went on.
    const apps = lab.kc.makeApiClient(AppsV1Api);
    const image = async (kind: 'DaemonSet' | 'Deployment', name: string) => {
      const object =
        kind === 'DaemonSet'
          ? await apps.readNamespacedDaemonSet({ name, namespace: 'kube-system' })
          : await apps.readNamespacedDeployment({ name, namespace: 'kube-system' });
      expect(object.metadata?.annotations?.['config.k8s.io/owning-inventory']).toBe(
        'talos-bootstrap-manifests-inventory',
      );
      return object.spec?.template.spec?.containers[0]?.image;
    };
    expect(await image('DaemonSet', 'kube-proxy')).toBe('registry.k8s.io/kube-proxy:v1.36.6');
    expect(await image('Deployment', 'coredns')).toBe('registry.k8s.io/coredns/coredns:v1.14.6');
    expect(await image('DaemonSet', 'kube-flannel')).toBe('ghcr.io/siderolabs/flannel:v0.28.8');
    const proxy = await apps.readNamespacedDaemonSet({ name: 'kube-proxy', namespace: 'kube-system' });
    expect(proxy.status?.updatedNumberScheduled).toBe(5);
    const inventory = await lab.core.readNamespacedConfigMap({
      name: 'talos-bootstrap-manifests-inventory',
      namespace: 'kube-system',
    });
    expect(Object.keys(inventory.data ?? {}).some((key) => key.includes('kube-proxy'))).toBe(true);
  }, 1_800_000);
});
