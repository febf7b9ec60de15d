import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { startLab, type Lab } from '../lab/labHarness.js';
import { failingUpgrade } from './runs.js';
import { labReport, labStatus } from './labViews.js';
import { startWorkflowHarness, type WorkflowHarness } from './workflowHarness.js';

// portkey: three control-plane nodes, no Terraform (pets only), Argo CD for its apps. The only lab
// preset whose health gates include argocd, so its gate's failure is shown here.
let lab: Lab;
let h: WorkflowHarness;
beforeAll(async () => {
  lab = await startLab('portkey');
  h = await startWorkflowHarness(lab, (inventory) => {
    inventory.policy.nodeReadyTimeout = 15_000;
  });
}, 900_000);
afterEach(async () => {
  await lab.clearFaults();
});
afterAll(async () => {
  await h?.stop();
  await lab?.stop();
});

describe('the argocd gate on portkey', () => {
  it('an Application Degraded on the new version: the controller is rolled back, and after the undo every check passes', async () => {
    await lab.addFault('argocd-degraded', { node: 'metal0', version: '1.11.4' });
    const { message, result } = await failingUpgrade(h, 'portkey', 'gate-argocd', {
      talos: { to: '1.11.4' },
      nodes: ['metal0'],
    });
    expect(message).toContain('metal0 is not healthy after its upgrade');
    expect(message).toMatch(/Argo CD Applications: \S+: Degraded\/Synced/);
    expect(message).toMatch(
      /rolled back to a safe state \(after the undo ✅ metal0: (\d+)\/\1 health checks passed\)/,
    );
    expect(result.nodes.map((n) => [n.node, n.outcome])).toEqual([['metal0', 'rolled-back']]);
    const rows = await labStatus(lab);
    expect(rows.map((r) => [r.node, r.talos, r.ready, r.cordoned])).toEqual([
      ['metal0', '1.11.3', true, false],
      ['metal1', '1.11.3', true, false],
      ['metal2', '1.11.3', true, false],
    ]);
    expect((await labReport(lab)).violations).toEqual([]);
  }, 600_000);
});
