import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { clusterHandles, type ActivityDeps } from '../../src/activities/deps.js';
import { healthActivities } from '../../src/activities/health.js';
import { loadInventoryFile } from '../../src/starter/inventoryFile.js';
import { kubeconfigYaml } from '../../lab/kube/kubeconfig.js';
import { eventually } from '../lab/labHarness.js';
import { silentServer, stillOpen } from '../lab/silentServer.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'talos-health-cancel-'));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The example inventory's worker with a GPU, its kubeconfig naming `server`. */
async function proxOpsDeps(server: string): Promise<ActivityDeps> {
  const inventory = await loadInventoryFile('examples/prox-ops.yaml');
  const kubeconfig = join(dir, 'kubeconfig');
  await writeFile(kubeconfig, kubeconfigYaml(server, '', 'token'));
  return {
    clusters: { 'prox-ops': { inventory, baseDir: dir, kubeconfig, talosconfig: '' } },
    talosctl: 'talosctl',
    terraform: 'terraform',
    readSecret: () => Promise.resolve(''),
  };
}

// An API server that stops answering mid-gate (a control plane going away under the worker): when the
// run is cancelled, the gate ends at once, and so does every request of its checks. Before the checks
// passed their signal to client-node, the gate ended but its requests stayed open, one connection each.
it('a health gate cancelled mid-check ends its requests, and its probe pods are deleted within a limit', async () => {
  const { port, sockets, release } = await silentServer();
  try {
    const deps = await proxOpsDeps(`https://127.0.0.1:${port}`);
    const { runHealthChecks } = healthActivities(deps, clusterHandles(deps));
    const env = new MockActivityEnvironment();
    const gate = env
      .run(runHealthChecks, { cluster: 'prox-ops', node: 'k8s-work-4' })
      .catch((e: unknown) => e);
    // One first request per check: node, pods (the node's pods), ceph, flux, dns and network (their probe pods), gpu.
    await eventually(
      'every check to have its request open',
      () => Promise.resolve(sockets.length >= 7),
      10_000,
    );
    const checksRequests = [...sockets];
    env.cancel();
    expect(await gate).toBeInstanceOf(CancelledFailure);
    expect(await stillOpen(checksRequests, 5000)).toBe(0);
    // A probe pod whose create was cut short may still have been stored: each is deleted, and the delete,
    // unanswered too, is given up at its own 10 s limit.
    await eventually(
      "the dns and network probe pods' deletes",
      () => Promise.resolve(sockets.length - checksRequests.length >= 2),
      10_000,
    );
    const cleanup = sockets.filter((socket) => !checksRequests.includes(socket));
    expect(cleanup.length).toBe(2);
    expect(await stillOpen(cleanup, 15_000)).toBe(0);
  } finally {
    await release();
  }
}, 60_000);
