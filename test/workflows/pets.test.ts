import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { clusterUpgrade } from '../../src/workflows/index.js';
import { startLab, type Lab } from '../lab/labHarness.js';
import { recordHistory } from './recordHistory.js';
import { startWorkflowHarness, type WorkflowHarness } from './workflowHarness.js';

let lab: Lab;
let h: WorkflowHarness;
beforeAll(async () => {
  lab = await startLab('prox-ops');
  h = await startWorkflowHarness(lab);
}, 900_000);
afterAll(async () => {
  await h?.stop();
  await lab?.stop();
});

describe('clusterUpgrade, pets 1.11.3 -> 1.11.4 on prox-ops', () => {
  it('upgrades all 15 nodes, controllers one at a time and first, labels kept, invariants clean', async () => {
    const result = await h.client.workflow.execute(clusterUpgrade, {
      taskQueue: h.taskQueue,
      workflowId: 'talos-upgrade:prox-ops:pets-test',
      args: [
        {
          requestId: 'pets-test',
          cluster: 'prox-ops',
          talos: { from: '1.11.3', to: '1.11.4' },
          source: 'test',
        },
      ],
      workflowExecutionTimeout: '20 minutes',
    });
    expect(result.outcome).toBe('succeeded');
    expect(result.hops).toEqual([{ from: '1.11.3', to: '1.11.4', strategy: 'pets' }]);
    expect(result.nodes.map((n) => n.outcome)).toEqual(Array(15).fill('upgraded'));
    expect(result.nodes.slice(0, 3).map((n) => n.node)).toEqual(['k8s-ctrl-1', 'k8s-ctrl-2', 'k8s-ctrl-3']);
    const status = await lab.labCli('status', '--json');
    const rows = (
      JSON.parse(status.stdout) as { rows: Array<{ talos: string; ready: boolean; cordoned: boolean }> }
    ).rows;
    expect(rows.every((r) => r.talos === '1.11.4' && r.ready && !r.cordoned)).toBe(true);
    const report = JSON.parse((await lab.labCli('report', '--json')).stdout) as {
      ok: boolean;
      violations: unknown[];
      timeline: Array<{ kind: string; node?: string; at: string }>;
    };
    expect(report.violations).toEqual([]);
    expect(report.ok).toBe(true);
    // Controllers strictly one at a time: each finished before the next started.
    const upgrades = report.timeline.filter(
      (e) => e.kind === 'upgrade-started' || e.kind === 'upgrade-finished',
    );
    const controllerEvents = upgrades
      .filter((e) => e.node?.startsWith('k8s-ctrl'))
      .map((e) => `${e.kind}:${e.node}`);
    expect(controllerEvents).toEqual(
      ['k8s-ctrl-1', 'k8s-ctrl-2', 'k8s-ctrl-3'].flatMap((n) => [
        `upgrade-started:${n}`,
        `upgrade-finished:${n}`,
      ]),
    );
    const lastController = upgrades.filter((e) => e.node?.startsWith('k8s-ctrl')).at(-1)?.at ?? '';
    const firstWorker = upgrades.find((e) => e.node?.startsWith('k8s-work'))?.at ?? '';
    expect(firstWorker > lastController).toBe(true);
    await recordHistory('talos-upgrade:prox-ops:pets-test', 'pets-cluster-prox-ops');
    await recordHistory('talos-upgrade:prox-ops:pets-test:node:k8s-ctrl-1:1.11.4', 'pets-node-controller');
  }, 1_200_000);
});
