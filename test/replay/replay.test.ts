import { readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import { execa } from 'execa';

const root = fileURLToPath(new URL('../../', import.meta.url));

/**
 * The determinism guard: recorded histories of real runs on the lab (pets, cattle, an approved major)
 * replayed against today's workflow code by scripts/replay-histories.ts. A change that would break a
 * run in flight fails here; make such changes with workflow versioning (patched) and re-record
 * (see test/workflows/recordHistory.ts).
 */
describe('replay of recorded histories', () => {
  it('every recorded history replays without a non-determinism error', async () => {
    const files = (await readdir(new URL('./histories/', import.meta.url), { recursive: true })).filter((f) =>
      f.endsWith('.json'),
    );
    // Shapes the code still accepts: pets, cattle and approval runs from before install-before-drain,
    // two of the Talos 1.13 path, a failed run and its rolled-back node, a paused, resumed and cancelled
    // run, the etcd gate's refusal after its three reads, a stuck undo retried by an operator, and a
    // node cancelled by its terminated run before and after the orphan-notice patch, and a worker
    // of the lean-history patch (its phase written at start and end only) and one of the
    // local-health-checks patch (its gates as local activities), with the controller and cluster runs
    // recorded before them (the controller from before install-before-drain), and a cattle run whose
    // final round of workers starts the one a PDB blocks first, and one that marks the nodes still to
    // upgrade and lets every free lane start a blocked node first, and two that also read the first
    // round's blocked workers (none found; one found and started after the first round), and a
    // controller's cattle undo that removes the member its booting VM joined with after the leave.
    // The pre-orchestration-v2 shapes went with its retirement.
    expect(files.length).toBeGreaterThanOrEqual(25);
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
