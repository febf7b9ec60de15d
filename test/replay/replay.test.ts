import { readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import { execa } from 'execa';

const root = fileURLToPath(new URL('../../', import.meta.url));

/**
 * The determinism guard: recorded histories of real runs on the lab replayed against today's workflow
 * code by scripts/replay-histories.ts. A change that would break a run in flight fails here. Until
 * 1.0 nobody has a run in flight: such a change is made directly and the histories are re-recorded
 * (TALOS_UPGRADE_RECORD_HISTORIES=1 on the suites that record them, see test/workflows/recordHistory.ts).
 */
describe('replay of recorded histories', () => {
  it('every recorded history replays without a non-determinism error', async () => {
    const files = (await readdir(new URL('./histories/', import.meta.url), { recursive: true })).filter((f) =>
      f.endsWith('.json'),
    );
    // Shapes: pets (a controller, a worker, a cluster; Talos 1.13's lifecycle path), cattle (a
    // controller, a GPU worker, a cluster whose first round reads its blocked workers, and one whose
    // first round finds none), an approved run of two minors, a failed run and its rolled-back node,
    // a paused, resumed and cancelled run, the etcd gate's refusal after its three reads, a stuck undo
    // retried by an operator, a node cancelled by its terminated run, and a controller's cattle undo
    // that removes the member its booting VM joined with after the leave.
    expect(files.length).toBeGreaterThanOrEqual(18);
    const replay = await execa('node', ['--import', 'tsx', 'scripts/replay-histories.ts'], {
      cwd: root,
      reject: false,
      all: true,
    });
    expect([replay.exitCode, replay.all]).toEqual([
      0,
      expect.stringContaining(`${files.length}/${files.length} histories replayed`),
    ]);
  }, 300_000);
});
