import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { ApplicationFailure, WorkflowFailedError } from '@temporalio/client';
import { clusterUpgrade } from '../../src/workflows/index.js';
import type { ClusterUpgradeResult } from '../../src/workflows/types.js';
import { eventually, startLab, type Lab } from '../lab/labHarness.js';
import { eventsSince, labReport, labStatus, timelineMark } from './labViews.js';
import { startWorkflowHarness, type WorkflowHarness } from './workflowHarness.js';

let lab: Lab;
let h: WorkflowHarness;
beforeAll(async () => {
  lab = await startLab('prox-ops');
  h = await startWorkflowHarness(lab, (inventory) => {
    inventory.policy.nodeReadyTimeout = 15_000;
  });
}, 900_000);
afterEach(async () => {
  await lab.labCli('fault', 'clear');
  h.inventory.policy.drain.force = true;
});
afterAll(async () => {
  await h?.stop();
  await lab?.stop();
});

/** Runs a pets upgrade that must fail; returns the run's result from the UpgradeFailed details. */
async function failingRun(
  id: string,
  to: string,
): Promise<{ message: string; result: ClusterUpgradeResult }> {
  const run = h.client.workflow.execute(clusterUpgrade, {
    taskQueue: h.taskQueue,
    workflowId: `talos-upgrade:prox-ops:${id}`,
    args: [{ requestId: id, cluster: 'prox-ops', talos: { to }, source: 'test' }],
  });
  const error = await run.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(WorkflowFailedError);
  const cause = (error as WorkflowFailedError).cause;
  expect(cause).toBeInstanceOf(ApplicationFailure);
  const failure = cause as ApplicationFailure;
  expect(failure.type).toBe('UpgradeFailed');
  return { message: failure.message, result: failure.details?.[0] as ClusterUpgradeResult };
}

const touching = new Set(['cordoned', 'upgrade-started', 'vm-destroyed', 'etcd-left', 'config-applied']);

describe('faults during a pets upgrade on prox-ops', () => {
  it('installer image missing: halts in pre-flight with nothing touched', async () => {
    await lab.labCli('fault', 'add', 'image-missing', '--version', '1.11.4');
    const mark = await timelineMark(lab);
    const { message, result } = await failingRun('image-missing', '1.11.4');
    expect(message).toMatch(/installer image .*1\.11\.4/i);
    expect(result.nodes).toEqual([]);
    expect((await eventsSince(lab, mark)).filter((e) => touching.has(e.kind))).toEqual([]);
    expect((await labStatus(lab)).every((row) => row.talos === '1.11.3' && !row.cordoned)).toBe(true);
  }, 600_000);

  it('a node not Ready after its upgrade: rolled back to the old version, the run halted', async () => {
    await lab.labCli('fault', 'add', 'not-ready-after-upgrade', '--node', 'k8s-ctrl-1');
    const { message, result } = await failingRun('not-ready', '1.11.4');
    expect(message).toMatch(/k8s-ctrl-1/);
    expect(result.nodes).toMatchObject([{ node: 'k8s-ctrl-1', outcome: 'rolled-back' }]);
    const rows = await labStatus(lab);
    expect(rows.every((row) => row.talos === '1.11.3' && row.ready && !row.cordoned)).toBe(true);
    expect((await labReport(lab)).violations).toEqual([]);
  }, 600_000);

  it('a PDB blocking the drain (force off): halted with the node uncordoned', async () => {
    h.inventory.policy.drain.force = false;
    await lab.labCli('fault', 'add', 'pdb-blocks-drain', '--node', 'k8s-ctrl-1');
    const mark = await timelineMark(lab);
    const { message, result } = await failingRun('pdb-blocked', '1.11.4');
    expect(message).toMatch(/disruption budget|DrainBlocked|PodDisruptionBudget/i);
    expect(result.nodes).toMatchObject([{ node: 'k8s-ctrl-1', outcome: 'rolled-back' }]);
    const events = await eventsSince(lab, mark);
    expect(events.filter((e) => e.kind === 'upgrade-started')).toEqual([]);
    expect(events.filter((e) => e.kind === 'cordoned').map((e) => e.node)).toContain('k8s-ctrl-1');
    // The lab's node watch records the uncordon as the API server reports it: at most a moment later.
    await eventually(
      'the uncordon on the lab timeline',
      async () =>
        (await eventsSince(lab, mark)).some((e) => e.kind === 'uncordoned' && e.node === 'k8s-ctrl-1'),
      10_000,
    );
    expect((await labStatus(lab)).every((row) => row.talos === '1.11.3' && !row.cordoned)).toBe(true);
  }, 600_000);
});
