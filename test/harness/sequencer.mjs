// Several suites run at once (jest.config.js's maxWorkers), so the run ends when the busiest lane
// does. The longest suites go first (longest-processing-time order), so the short ones fill the gaps
// at the end; without this a fresh clone, which has no timings cached, orders by file size.
import Sequencer from '@jest/test-sequencer';
import config from '../../jest.config.js';

/**
 * Seconds per suite with four at a time on 2 cores (a fresh clone's full run of 0ee3c8c on 2026-11-29,
 * from that clone's .tools/jest-results.json; init.test then still ran a 15-node patch). A suite not
 * listed counts as a minute, one of test/domain/ as a second; the figures only decide the order.
 */
const SECONDS = {
  'test/workflows/init.test.ts': 1448,
  'test/bench/matrix.pets.test.ts': 1317,
  'test/bench/matrix.cattle.test.ts': 1312,
  'test/bench/benchmarks.test.ts': 1101,
  'test/starter/webhook.test.ts': 859,
  'test/workflows/pets.test.ts': 855,
  'test/workflows/doctor.test.ts': 759,
  'test/workflows/cattle.test.ts': 749,
  'test/workflows/lifecycle.test.ts': 468,
  'test/workflows/canary.test.ts': 390,
  'test/activities/activities.test.ts': 335,
  'test/workflows/operatorSafety.test.ts': 298,
  'test/workflows/faults.test.ts': 295,
  'test/workflows/approval.test.ts': 281,
  'test/workflows/multihop.test.ts': 268,
  'test/workflows/maintenanceWindow.test.ts': 244,
  'test/workflows/queue.test.ts': 231,
  'test/workflows/proveRebuild.test.ts': 229,
  'test/workflows/terraformConfigApply.test.ts': 200,
  'test/secrets/secrets.test.ts': 197,
  'test/lab/faults.test.ts': 175,
  'test/worker/worker.test.ts': 164,
  'test/workflows/etcdLearner.test.ts': 153,
  'test/webui/webui.test.ts': 108,
  'test/lab/lab.test.ts': 104,
  'test/lab/links.test.ts': 1,
  'test/cli/planAndValidate.test.ts': 97,
  'test/fuzz/parsers.fuzz.test.ts': 87,
  'test/fuzz/webhook.fuzz.test.ts': 46,
  'test/activities/githubSource.test.ts': 45,
  'test/renovate/renovate.test.ts': 42,
  'test/activities/workspaceQueue.test.ts': 32,
  'test/lab/freshPorts.test.ts': 25,
  'test/cli/entryBundle.test.ts': 21,
  'test/activities/healthCancel.test.ts': 17,
  'test/replay/replay.test.ts': 15,
  'test/activities/repositoryDiscovery.test.ts': 12,
  'test/temporal.smoke.test.ts': 11,
  'test/lab/managedProcess.test.ts': 8,
  'test/cli/closedPipe.test.ts': 7,
  'test/cli/workerConfig.test.ts': 6,
  'test/activities/evictionAnswers.test.ts': 3,
  'test/activities/githubReleases.test.ts': 2,
  'test/activities/machineConfigFile.test.ts': 2,
  'test/starter/recordDeliveries.test.ts': 2,
  'test/bench/history.test.ts': 1,
  'test/activities/talosctlOutput.test.ts': 1,
  'test/bench/slotSamples.test.ts': 1,
  'test/bench/slowMoments.test.ts': 1,
  'test/deploy/compose.test.ts': 1,
  'test/deploy/monitoring.test.ts': 1,
  'test/worker/workflowBundle.test.ts': 1,
  'test/workflows/operatorRefusals.test.ts': 1,
};

/**
 * Suites that drive the atlas upgrade queue hold it from start to end (test/harness/clusterQueueLock.ts):
 * two of them side by side would leave a lane waiting.
 */
const ATLAS_QUEUE = new Set([
  'test/starter/webhook.test.ts',
  'test/workflows/operatorSafety.test.ts',
  'test/workflows/queue.test.ts',
  'test/secrets/secrets.test.ts',
  'test/webui/webui.test.ts',
]);

export default class LongestFirst extends Sequencer {
  sort(tests) {
    const path = (test) => test.path.slice(test.context.config.rootDir.length + 1);
    const seconds = (test) => SECONDS[path(test)] ?? (path(test).startsWith('test/domain/') ? 1 : 60);
    const remaining = [...tests].sort((a, b) => seconds(b) - seconds(a) || a.path.localeCompare(b.path));
    // Jest hands the next suite in this order to whichever worker is free first. Play that out with
    // the figures above, and at each hand-out take the longest suite that would not wait for the
    // atlas queue (on these figures the run ends as early as with no lock at all).
    const lanes = new Array(config.maxWorkers).fill(0);
    let queueFreeAt = 0;
    const order = [];
    while (remaining.length) {
      const lane = lanes.indexOf(Math.min(...lanes));
      const now = lanes[lane];
      const free = remaining.findIndex((test) => !ATLAS_QUEUE.has(path(test)) || queueFreeAt <= now);
      const [next] = remaining.splice(Math.max(free, 0), 1);
      const start = ATLAS_QUEUE.has(path(next)) ? Math.max(now, queueFreeAt) : now;
      lanes[lane] = start + seconds(next);
      if (ATLAS_QUEUE.has(path(next))) queueFreeAt = lanes[lane];
      order.push(next);
    }
    return order;
  }
}
