// Two suites run at once (jest.config.js), so the run ends when the busier of the two lanes does.
// The longest suites go first (longest-processing-time order), so the short ones fill the gaps at
// the end; without this a fresh clone, which has no timings cached, orders by file size.
import Sequencer from '@jest/test-sequencer';

/**
 * Seconds per suite with two at a time on 2 cores (a full run on 2026-11-23; the webhook, window and
 * Web UI suites measured alone on 2026-11-24). A suite not listed
 * counts as a minute; the figures only decide the order.
 */
const SECONDS = {
  'test/bench/matrix.test.ts': 900,
  'test/bench/benchmarks.test.ts': 685,
  'test/workflows/pets.test.ts': 580,
  'test/starter/webhook.test.ts': 300,
  'test/workflows/maintenanceWindow.test.ts': 240,
  'test/workflows/lifecycle.test.ts': 309,
  'test/workflows/cattle.test.ts': 261,
  'test/workflows/approval.test.ts': 210,
  'test/workflows/faults.test.ts': 205,
  'test/workflows/operatorSafety.test.ts': 189,
  'test/workflows/multihop.test.ts': 177,
  'test/workflows/queue.test.ts': 175,
  'test/activities/activities.test.ts': 167,
  'test/worker/worker.test.ts': 100,
  'test/secrets/secrets.test.ts': 120,
  'test/lab/faults.test.ts': 71,
  'test/fuzz/parsers.fuzz.test.ts': 57,
  'test/lab/lab.test.ts': 51,
  'test/fuzz/webhook.fuzz.test.ts': 35,
  'test/webui/webui.test.ts': 60,
  'test/cli/planAndValidate.test.ts': 24,
  'test/renovate/renovate.test.ts': 13,
  'test/replay/replay.test.ts': 10,
};

export default class LongestFirst extends Sequencer {
  sort(tests) {
    const seconds = (test) => {
      const path = test.path.slice(test.context.config.rootDir.length + 1);
      return SECONDS[path] ?? (path.startsWith('test/domain/') ? 1 : 60);
    };
    return [...tests].sort((a, b) => seconds(b) - seconds(a) || a.path.localeCompare(b.path));
  }
}
