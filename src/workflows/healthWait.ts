import { sleep } from '@temporalio/workflow';
import type { HealthReport } from '../activities/health.js';
import { humanDuration } from './runDetails.js';

/** How often a gate reads again while storage recovers (a CephCluster's status and its OSD pods). */
const RECOVERY_INTERVAL = '5s';

type Failure = HealthReport['failed'][number];

/**
 * The health checks, read again while what fails is only a recovery in progress (Ceph after an OSD
 * node's reboot), for up to `timeoutMs` of workflow time. `tolerated` failures do not hold it (the
 * gate after a node's upgrade leaves the cluster's recovery to the next node's gate). Returns the
 * last report and what in it still blocks: nothing when the gate may go on.
 */
export async function untilRecovered(
  read: () => Promise<HealthReport>,
  timeoutMs: number,
  tolerated: (failure: Failure) => boolean = () => false,
): Promise<{ report: HealthReport; blocking: Failure[] }> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const report = await read();
    const blocking = report.failed.filter((f) => !tolerated(f));
    if (blocking.length === 0 || blocking.some((f) => !f.recovering) || Date.now() >= until)
      return { report, blocking };
    const first = blocking[0]?.diagnostics.split('\n')[0] ?? '';
    await sleep(RECOVERY_INTERVAL, {
      summary:
        `wait for ${blocking.map((f) => f.check).join(', ')} to recover (up to ${humanDuration(timeoutMs)}): ${first}`.slice(
          0,
          200,
        ),
    });
  }
}

/** The failures of a report as one line for an error: each check and its diagnostics. */
export function describeBlocking(blocking: Failure[]): string {
  return blocking
    .map((f) => `${f.check}${f.recovering ? ' (still recovering)' : ''}: ${f.diagnostics}`)
    .join(' | ');
}
