import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ensureTools } from '../../lab/tools.js';
import { enqueueUpgrade } from '../../src/starter/enqueue.js';
import type { clusterUpgrade } from '../../src/workflows/index.js';
import { progressQuery } from '../../src/workflows/signals.js';
import { TEMPORAL_WEB_UI_ENV } from '../harness/temporalEnv.js';
import { clusterQueueLock } from '../harness/clusterQueueLock.js';
import { eventually, startLab, type Lab } from '../lab/labHarness.js';
import { startWorkflowHarness, type WorkflowHarness } from '../workflows/workflowHarness.js';

// What a person sees in the dev server's Web UI (the real one, in Debian's chromium) while a run of
// atlas (3 controllers, 2 workers) waits for approval, is approved there, and takes its nodes.
let lab: Lab;
let h: WorkflowHarness;
const atlasQueue = clusterQueueLock('atlas');
let browser: Browser;
let page: Page;
const ui = () => process.env[TEMPORAL_WEB_UI_ENV] ?? '';
const SECOND = 1000;

beforeAll(async () => {
  const { chromium: executablePath } = await ensureTools('chromium');
  lab = await startLab('atlas');
  await atlasQueue.acquire();
  h = await startWorkflowHarness(lab, (inventory) => {
    inventory.policy.approval.patch = true;
    // Long enough that a controller is seen mid-run.
    inventory.policy.stabilisation = 20 * SECOND;
  });
  browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
  page = await browser.newPage({ viewport: { width: 1600, height: 1200 } });
  page.setDefaultTimeout(30 * SECOND);
}, 900_000);

afterAll(async () => {
  await h?.endQueue('atlas');
  await atlasQueue.release();
  await browser?.close();
  await h?.stop();
  await lab?.stop();
});

const runPage = (workflowId: string) =>
  `${ui()}/namespaces/default/workflows/${encodeURIComponent(workflowId)}`;

/** The run's page, on its User Metadata tab: summary, details, current details, events with metadata. */
async function openMetadata(workflowId: string): Promise<void> {
  await page.goto(runPage(workflowId));
  await page
    .getByRole('link', { name: /User Metadata/ })
    .or(page.getByText('User Metadata'))
    .first()
    .click();
}

/**
 * Waits until `text` shows, on the page or in one of its frames: the UI renders summaries and details
 * (markdown) in sandboxed iframes of their own.
 */
async function see(text: string | RegExp, timeoutMs = 30 * SECOND): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const frame of page.frames()) {
      // The UI keeps hidden copies of some dialogs: only a visible match counts.
      const visible = await frame
        .getByText(text)
        .filter({ visible: true })
        .count()
        .catch(() => 0);
      if (visible > 0) return;
    }
    await page.waitForTimeout(250);
  }
  throw new Error(`the page never showed ${String(text)}`);
}

describe('the Web UI tells the story of a run', () => {
  it('summary, current details, the approve dialog, node children with their summaries, the current step', async () => {
    expect(ui()).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const { runId } = await enqueueUpgrade(h.client, h.taskQueue, {
      requestId: 'web-ui',
      cluster: 'atlas',
      talos: { to: '1.11.4' },
      source: 'the browser test',
    });
    const run = h.client.workflow.getHandle<typeof clusterUpgrade>(runId);
    await eventually(
      'the run to wait for approval',
      async () => (await run.query(progressQuery).catch(() => undefined))?.approval?.state === 'waiting',
      120 * SECOND,
    );
    try {
      // The cluster run: its summary and details, and what it waits for, in the person's words.
      await openMetadata(runId);
      await see('Upgrade atlas: Talos to 1.11.4');
      await see(/Asked by\s*the browser test/);
      await see(/phase\s*AwaitingApproval/);
      await see(/Waiting for approval: talos-upgrade approve atlas/);
      await see('wait for approval (times out in 24h)');
      await see('read the inventory of atlas');

      // The approve dialog: the run's Updates are offered with their descriptions.
      await page.getByRole('button', { name: 'More Actions' }).click();
      await page.getByRole('menuitem', { name: 'Send an Update' }).click();
      const dialog = page.locator('dialog[open]').filter({ visible: true });
      await dialog.getByRole('button', { name: 'Select an Update' }).click();
      await see('Approve the upgrade (refused when it waits for none)');
      await see(
        'Start nodes outside the maintenance windows, for this run only (refused when there are none)',
      );
      await dialog.getByRole('option', { name: /^approve/ }).click();
      await dialog.locator('[role=textbox][data-language=json]').click();
      await page.keyboard.insertText('{"by": "web-ui", "comment": "looks good"}');
      // The first click may only leave the editor, which reformats the JSON and makes the dialog taller
      // under the pointer: click again while the dialog is still open.
      const submit = page.getByRole('button', { name: 'Submit' }).filter({ visible: true });
      for (let attempt = 0; attempt < 3 && (await submit.count()) > 0; attempt++) {
        await submit.click().catch(() => undefined);
        await page.waitForTimeout(1500);
      }
      await see('Update successful');
      await eventually(
        'the approval to take',
        async () => (await run.query(progressQuery)).approval?.by === 'web-ui',
        30 * SECOND,
      );

      // A controller in flight: the node child with its summary, the live table, the node's current step.
      await eventually(
        'a controller to be in flight',
        async () => (await run.query(progressQuery)).current.includes('talos-cp-1'),
        120 * SECOND,
      );
      await openMetadata(runId);
      await see('talos-cp-1 (controlplane): Talos 1.11.3 → 1.11.4 as pets');
      await see(/phase\s*UpgradingControlPlane/);
      await see(/talos-cp-1\s*1\.11\.3->1\.11\.4\s*in flight/);
      const nodeRun = `${runId}:node:talos-cp-1:1.11.4`;
      await openMetadata(nodeRun);
      await see(/Cluster\s*atlas · node\s*talos-cp-1 · role\s*controlplane/);
      await see(/step \d+ of \d+:|· done/);
      await see('cordon talos-cp-1');
    } catch (error) {
      // Outside the lab's directory, which goes with the lab.
      const shot = join(tmpdir(), `talos-upgrade-web-ui-failure-${Date.now()}.png`);
      await page.screenshot({ path: shot }).catch(() => undefined);
      throw new Error(`${(error as Error).message}\n(screenshot: ${shot})`, {
        cause: error,
      });
    }
    // The rest is the product's, not the UI's: end the run without waiting for every node.
    await run.cancel();
    expect((await run.result()).outcome).toBe('cancelled');
  }, 600_000);
});
