import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { clusterUpgrade } from '../../src/workflows/index.js';
import { connectToTestServer, uniqueTaskQueue } from '../harness/temporalEnv.js';
import { eventually, startLab, type Lab } from '../lab/labHarness.js';
import { labReport, labStatus } from '../workflows/labViews.js';
import { selectedMetrics, shippedExpressions } from '../deploy/promql.js';
import { fastInventory, startWorkerProcess, type WorkerProcess } from './workerProcess.js';

const scrape = async (port: number) => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
/** One sample's value: `name{labels} value`, the labels given as a fragment that must appear. */
function sample(text: string, name: string, labels: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

let lab: Lab;
let env: Awaited<ReturnType<typeof connectToTestServer>>;
const workers: WorkerProcess[] = [];
beforeAll(async () => {
  lab = await startLab('atlas');
  env = await connectToTestServer();
}, 900_000);
afterAll(async () => {
  for (const w of workers) if (w.child.exitCode === null) w.child.kill('SIGKILL');
  await env?.close();
  await lab?.stop();
});

describe('talos-upgrade worker, as a process', () => {
  it('survives a SIGKILL mid-run: a new worker finishes the upgrade; SIGTERM stops it cleanly', async () => {
    const inventory = await fastInventory(lab);
    const taskQueue = uniqueTaskQueue('worker-process');
    const first = await startWorkerProcess(lab, inventory, taskQueue);
    workers.push(first);
    const handle = await env.client.workflow.start(clusterUpgrade, {
      taskQueue,
      workflowId: 'talos-upgrade:atlas:worker-kill-test',
      args: [{ requestId: 'worker-kill-test', cluster: 'atlas', talos: { to: '1.11.4' }, source: 'test' }],
    });
    await eventually(
      'the second control-plane node to start its upgrade',
      async () =>
        (await labReport(lab)).timeline.some((e) => e.kind === 'upgrade-started' && e.node === 'talos-cp-2'),
      300_000,
    );
    const metrics = await (await fetch(`http://127.0.0.1:${first.metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/^temporal_/m);
    workers[0]?.child.kill('SIGKILL');
    await workers[0]?.child;

    // The second worker reads its run gauges every second (15 s by default).
    const second = await startWorkerProcess(lab, inventory, taskQueue, {
      TALOS_UPGRADE_METRICS_INTERVAL: '1s',
    });
    workers.push(second);
    const during = await eventually(
      'the run gauge to count the run',
      async () => {
        const text = await scrape(second.metricsPort);
        return sample(text, 'talos_upgrade_runs_in_progress', 'cluster="atlas"') === 1 ? text : undefined;
      },
      60_000,
    );
    // Counters start at 0, so Prometheus sees the first rollback as an increase.
    expect(sample(during, 'talos_upgrade_rollbacks_total', 'result="failed"')).toBe(0);
    const result = await handle.result();
    expect(result.outcome).toBe('succeeded');
    expect(result.nodes.map((n) => `${n.node}:${n.outcome}`).sort()).toEqual(
      ['talos-cp-1', 'talos-cp-2', 'talos-cp-3', 'talos-wk-1', 'talos-wk-2'].map((n) => `${n}:upgraded`),
    );
    const rows = await labStatus(lab);
    expect(rows.every((row) => row.talos === '1.11.4' && row.ready && !row.cordoned)).toBe(true);
    expect((await labReport(lab)).violations).toEqual([]);

    // The product's metrics on the worker that finished the run: every name the shipped dashboard and
    // alert rules select is exposed (a replayed node is not counted again by the second worker).
    const after = await eventually(
      'the run to be counted',
      async () => {
        const text = await scrape(second.metricsPort);
        return sample(text, 'talos_upgrade_runs_in_progress', 'cluster="atlas"') === 0 &&
          sample(text, 'talos_upgrade_runs_total', 'outcome="succeeded"') === 1
          ? text
          : undefined;
      },
      60_000,
    );
    const upgradedBySecond = after
      .split('\n')
      .filter((l) => l.startsWith('talos_upgrade_node_upgrades_total{') && l.includes('outcome="upgraded"'))
      .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
    expect(upgradedBySecond).toBeGreaterThanOrEqual(1);
    expect(upgradedBySecond).toBeLessThanOrEqual(5);
    const exposed = new Set(
      after
        .split('\n')
        .filter((l) => l && !l.startsWith('#'))
        .map((l) => l.split(/[{ ]/)[0]),
    );
    const wanted = new Set((await shippedExpressions()).flatMap(({ expr }) => selectedMetrics(expr)));
    wanted.delete('up'); // Prometheus's own, per scrape target
    // The webhook's own (test/secrets/secrets.test.ts checks them on a real webhook).
    for (const name of wanted) if (name.startsWith('talos_upgrade_webhook_')) wanted.delete(name);
    expect([...wanted].filter((name) => !exposed.has(name))).toEqual([]);
    expect(wanted.size).toBeGreaterThanOrEqual(7);

    second.child.kill('SIGTERM');
    const exit = await second.child;
    expect(exit.exitCode).toBe(0);
    const logs = second.logs();
    expect(logs.some((l) => l.msg === 'worker stopped')).toBe(true);
    // Structured: every line the worker wrote is a JSON log record.
    expect(logs.filter((l) => 'raw' in l)).toEqual([]);
  }, 900_000);
});
