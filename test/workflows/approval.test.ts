import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { clusterUpgrade } from '../../src/workflows/index.js';
import { approveSignal, approveUpdate, progressQuery, rejectUpdate } from '../../src/workflows/signals.js';
import { eventually, startLab, type Lab } from '../lab/labHarness.js';
import { eventsSince, labReport, labStatus, timelineMark } from './labViews.js';
import { recordHistory } from './recordHistory.js';
import { startWorkflowHarness, type WorkflowHarness } from './workflowHarness.js';

// atlas (5 nodes) rather than prox-ops: the approved run goes through two cattle hops to 1.13.8. Its
// policy asks approval for minors too (a major is beyond the releases this talos-upgrade drives).
let lab: Lab;
let h: WorkflowHarness;
beforeAll(async () => {
  lab = await startLab('atlas', ['--max-unavailable-workers', '2']);
  h = await startWorkflowHarness(lab, (inventory) => {
    inventory.policy.maxParallelWorkers = 2;
    inventory.policy.approval.minor = true;
  });
}, 900_000);
afterAll(async () => {
  await h?.stop();
  await lab?.stop();
});

const touching = new Set([
  'cordoned',
  'upgrade-started',
  'vm-destroyed',
  'etcd-left',
  'template-built',
  'template-destroyed',
]);

function startMinors(id: string, to = '1.13.8') {
  return h.client.workflow.start(clusterUpgrade, {
    taskQueue: h.taskQueue,
    workflowId: `talos-upgrade:atlas:${id}`,
    args: [{ requestId: id, cluster: 'atlas', talos: { to }, source: 'test' }],
  });
}

async function waitingForApproval(handle: Awaited<ReturnType<typeof startMinors>>) {
  await eventually(
    'the run to wait for approval',
    async () => {
      const progress = await handle.query(progressQuery).catch(() => undefined);
      return progress?.approval?.state === 'waiting';
    },
    300_000,
  ); // pre-flight plans every node's rebuild first: minutes on a loaded machine
}

describe('an upgrade the policy marks for approval waits for it (atlas, minors to 1.13.8)', () => {
  it('a major to 2.0.0 is refused at planning: beyond the releases this talos-upgrade drives', async () => {
    const mark = await timelineMark(lab);
    const error = await (await startMinors('major-test', '2.0.0')).result().catch((e: unknown) => e);
    expect((error as { cause?: { type?: string; message?: string } }).cause).toMatchObject({
      type: 'PlanRefused',
      message: expect.stringMatching(
        /the requested Talos 2\.0\.0 is outside what this talos-upgrade drives .*move to a talos-upgrade release that supports Talos 2\.0/,
      ),
    });
    expect((await eventsSince(lab, mark)).filter((e) => touching.has(e.kind))).toEqual([]);
  }, 300_000);

  it('pre-flight runs before the wait: a cluster it refuses asks nobody, and nothing is touched', async () => {
    const mark = await timelineMark(lab);
    await lab.addFault('etcd-unhealthy', { node: 'talos-cp-2' });
    try {
      const handle = await startMinors('preflight-refused-test');
      const error = await handle.result().catch((e: unknown) => e);
      expect((error as { cause?: { message?: string } }).cause?.message).toMatch(
        /failed: etcd is not healthy with all members \(2\/3 healthy, 3 control-plane nodes\)/,
      );
      expect((await handle.query(progressQuery)).approval).toBeUndefined();
    } finally {
      await lab.clearFaults('etcd-unhealthy');
    }
    expect((await eventsSince(lab, mark)).filter((e) => touching.has(e.kind))).toEqual([]);
  }, 300_000);

  it('reject ends it with nothing touched', async () => {
    const mark = await timelineMark(lab);
    const handle = await startMinors('reject-test');
    await waitingForApproval(handle);
    const waiting = await handle.query(progressQuery);
    expect(waiting.phase).toBe('AwaitingApproval');
    // The approver decides on what pre-flight found: every rebuild planned, etcd, health.
    expect(waiting.preFlight).toMatch(
      /^passed: installers of Talos 1\.11\.3, 1\.12\.9, 1\.13\.8 present; every node's installer keeps the extensions it loads; machine configs valid, kernel arguments carried by schematic 4a0d65c669d4… \(mitigations=off i915\.enable_guc=3\), and each node's rebuild planned \(5 nodes\); etcd 3\/3 members healthy; health: /,
    );
    // As an Update: it applies, returns the new state, and a second decision is refused with the reason.
    expect(
      await handle.executeUpdate(rejectUpdate, { args: [{ by: 'alice', reason: 'not this weekend' }] }),
    ).toEqual({
      phase: 'AwaitingApproval',
      paused: false,
      approval: { state: 'rejected', by: 'alice' },
    });
    // The run ends right after the reject, so a second decision meets either the validator (the run is still open)
    // or a closed run (the server aborts it). Neither applies it; the approve test shows the refusal's reason on a
    // run that is sure to stay open.
    const second = await handle
      .executeUpdate(approveUpdate, { args: [{ by: 'bob' }] })
      .catch((error: unknown) => error);
    if (second instanceof WorkflowUpdateFailedError)
      expect(second.cause?.message).toBe('already rejected by alice');
    else expect(second).toBeInstanceOf(WorkflowNotFoundError);
    const result = await handle.result();
    expect(result.outcome).toBe('rejected');
    expect(result.reason).toBe('rejected by alice: not this weekend; nothing was touched');
    expect(result.nodes).toEqual([]);
    expect((await eventsSince(lab, mark)).filter((e) => touching.has(e.kind))).toEqual([]);
  }, 300_000);

  it('policy.approval.approvers: only a named approver answers; the identity is in the state and the result', async () => {
    h.inventory.policy.approval.approvers = ['alice'];
    const mark = await timelineMark(lab);
    try {
      const handle = await startMinors('approvers-test');
      // A signal before the run waits (before planning read the list) is not kept for later.
      await handle.signal(approveSignal, { by: 'mallory', identity: 'mallory@somewhere' });
      await waitingForApproval(handle);
      expect((await handle.query(progressQuery)).approvers).toEqual(['alice']);
      const refusal = (args: { by: string; identity?: string }) =>
        handle.executeUpdate(approveUpdate, { args: [args] }).then(
          () => 'applied',
          (error: unknown) => (error as WorkflowUpdateFailedError).cause?.message,
        );
      expect(await refusal({ by: 'bob', identity: 'bob@laptop' })).toBe(
        "bob@laptop may not approve or reject this cluster's runs: policy.approval.approvers names alice",
      );
      expect(await refusal({ by: 'alice' })).toMatch(
        /^only alice may approve or reject this cluster's runs \(policy\.approval\.approvers\), and this answer names no identity/,
      );
      // The Web UI's signal is held to the same list: logged and ignored, the run still waits.
      await handle.signal(approveSignal, { by: 'bob', identity: 'bob@laptop' });
      expect((await handle.query(progressQuery)).approval?.state).toBe('waiting');
      // Any identity of the user alice answers.
      expect(
        await handle.executeUpdate(rejectUpdate, {
          args: [{ by: 'alice', identity: 'alice@laptop', reason: 'not this weekend' }],
        }),
      ).toMatchObject({ approval: { state: 'rejected', by: 'alice', identity: 'alice@laptop' } });
      const result = await handle.result();
      expect(result.reason).toBe('rejected by alice (alice@laptop): not this weekend; nothing was touched');
      expect((await eventsSince(lab, mark)).filter((e) => touching.has(e.kind))).toEqual([]);
    } finally {
      h.inventory.policy.approval.approvers = [];
    }
  }, 300_000);

  it('the approval timeout ends it the same way', async () => {
    h.inventory.policy.approvalTimeout = 3_000;
    const mark = await timelineMark(lab);
    try {
      const result = await (await startMinors('timeout-test')).result();
      expect(result.outcome).toBe('rejected');
      expect(result.reason).toMatch(/^no approval within .*; nothing was touched$/);
      expect((await eventsSince(lab, mark)).filter((e) => touching.has(e.kind))).toEqual([]);
    } finally {
      h.inventory.policy.approvalTimeout = 24 * 3_600_000;
    }
  }, 300_000);

  it('approve lets it go on: two cattle hops to 1.13.8', async () => {
    // bob is the approver; his signal names both him and the identity he sends from.
    h.inventory.policy.approval.approvers = ['bob'];
    const handle = await startMinors('approve-test');
    // The run read the list at planning: the inventory's may go back for the tests after.
    await waitingForApproval(handle).finally(() => (h.inventory.policy.approval.approvers = []));
    expect((await handle.query(progressQuery)).approvers).toEqual(['bob']);
    await handle.signal(approveSignal, { by: 'bob', identity: 'bob@ops-vm', comment: 'release notes read' });
    // Two hops follow, so the run is open when the second decision arrives: the validator refuses it, and says why.
    await expect(
      handle.executeUpdate(rejectUpdate, { args: [{ by: 'carol', identity: 'carol@laptop' }] }),
    ).rejects.toMatchObject({
      cause: { message: 'already approved by bob (bob@ops-vm)' },
    });
    const result = await handle.result();
    expect(result.outcome).toBe('succeeded');
    expect(result.approvedBy).toEqual({ by: 'bob', identity: 'bob@ops-vm', comment: 'release notes read' });
    expect(result.hops.map((hop) => `${hop.from}->${hop.to}:${hop.strategy}`)).toEqual([
      '1.11.3->1.12.9:cattle',
      '1.12.9->1.13.8:cattle',
    ]);
    expect(result.nodes.filter((n) => n.outcome === 'upgraded')).toHaveLength(10);
    const rows = await labStatus(lab);
    expect(rows.every((row) => row.talos === '1.13.8' && row.ready && !row.cordoned)).toBe(true);
    const report = await labReport(lab);
    expect(report.violations).toEqual([]);
    expect(report.vms.every((vm) => vm.destroyed === 2 && vm.created === 2)).toBe(true);
    await recordHistory(handle.workflowId, 'approval-cattle-atlas');
  }, 1_200_000);
});
