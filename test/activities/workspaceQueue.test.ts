import { describe, expect, it } from '@jest/globals';
import {
  DRAIN_HOLD_SHARE,
  FORCED_DRAIN_HOLD_SHARE,
  WorkspaceQueue,
  type SharedResult,
  type WorkspaceRun,
} from '../../src/activities/workspaceQueue.js';

// The queue's order of turns, with commands that take a set time: what is checked is which runs go
// together and when, not Terraform (the lab's suites run the real one through these turns).
const CLONE_MS = 1200;

interface Turn {
  targets: string[];
  at: number;
}

function queueWithLog() {
  const queue = new WorkspaceQueue(() => true, 300);
  const turns: Turn[] = [];
  /** Each command's own span, from its start to its end. */
  const spans: number[] = [];
  const t0 = Date.now();
  const run = (what: 'create' | 'destroy', node: string, ms: number): WorkspaceRun => ({
    what: `${what} ${node}`,
    batchKey: what === 'create' ? 'apply at 1.12.0' : 'destroy',
    targets: [node],
    node,
    ...(what === 'destroy' ? { followedUp: true } : {}),
    command: async (targets) => {
      const begun = Date.now();
      turns.push({ targets, at: begun - t0 });
      await new Promise((resolve) => setTimeout(resolve, ms));
      spans.push(Date.now() - begun);
      return { exitCode: 0, stdout: '', stderr: '', durationMs: ms, timedOut: false };
    },
  });
  return { queue, turns, spans, run, elapsed: () => Date.now() - t0 };
}

/**
 * One create first, so the queue knows how long a clone takes here. It goes by the clone it measured,
 * late timers included on a loaded machine: at least the command's own span, at most the submit's.
 * Waits are checked against the shares of those two: `least` for how long a create waited at least,
 * `share` and `forcedShare` for how long at most.
 */
async function primed() {
  const log = queueWithLog();
  const started = Date.now();
  await log.queue.submit(log.run('create', 'first', CLONE_MS));
  const cloneMs = Date.now() - started;
  const [innerMs] = log.spans;
  if (log.spans.length !== 1 || innerMs === undefined) throw new Error('the priming create ran no command');
  log.turns.length = 0;
  return {
    ...log,
    share: DRAIN_HOLD_SHARE * cloneMs,
    forcedShare: FORCED_DRAIN_HOLD_SHARE * cloneMs,
    least: { share: DRAIN_HOLD_SHARE * innerMs, forcedShare: FORCED_DRAIN_HOLD_SHARE * innerMs },
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * b's destroy, then its create, while create a waits: the destroy goes first and both VMs are cloned
 * in one run. Returns what a and b were told.
 */
async function destroyThenCloneTogether(
  { queue, turns, run }: Pick<ReturnType<typeof queueWithLog>, 'queue' | 'turns' | 'run'>,
  a: Promise<SharedResult>,
): Promise<[SharedResult, SharedResult]> {
  await queue.submit(run('destroy', 'b', 50));
  const b = queue.submit(run('create', 'b', CLONE_MS));
  const [ranA, ranB] = await Promise.all([a, b]);
  expect(turns.map((t) => t.targets)).toEqual([['b'], ['a', 'b']]);
  expect(ranA.together).toEqual(['b']);
  return [ranA, ranB];
}

describe('WorkspaceQueue: a create and the drains of nodes whose VMs are recreated next', () => {
  it('waits for the destroy of a node that ends its drain meanwhile, and clones both VMs in one run', async () => {
    const log = await primed();
    const { queue, run, least } = log;
    queue.drainOf('b', 'draining', Date.now() + 60_000);
    const a = queue.submit(run('create', 'a', CLONE_MS));
    await sleep(least.share / 3);
    queue.drainOf('b', 'drained');
    const [, ranB] = await destroyThenCloneTogether(log, a);
    expect(ranB.together).toEqual(['a']);
  });

  it('waits at most its share of a clone for a drain that does not end', async () => {
    const { queue, turns, run, elapsed, share, least } = await primed();
    queue.drainOf('b', 'draining', Date.now() + 60_000);
    const asked = elapsed();
    await queue.submit(run('create', 'a', 10));
    const waited = (turns[0]?.at ?? 0) - asked;
    expect(waited).toBeGreaterThanOrEqual(least.share - 20);
    expect(waited).toBeLessThan(share + 250);
  });

  it('does not wait for a drain that a PodDisruptionBudget holds, nor for one that failed', async () => {
    const { queue, turns, run, elapsed, share, forcedShare } = await primed();
    queue.drainOf('b', 'blocked', Date.now() + 60_000);
    // Near its deadline, but it may not force: it fails then, and no destroy follows.
    queue.drainOf('d', 'blocked', Date.now() + forcedShare / 2, false);
    queue.drainOf('c', 'draining', Date.now() + 60_000);
    queue.drainOf('c', 'failed');
    const asked = elapsed();
    await queue.submit(run('create', 'a', 10));
    expect((turns[0]?.at ?? 0) - asked).toBeLessThan(share / 2);
  });

  // A forced drain ends a moment after its deadline (the pods deleted, then the backup): in the second
  // case the destroy comes after the longer share is over, and is waited for from the drain's end.
  it.each([
    ['halfway through the longer share', 0.5],
    ['just before the longer share ends', 1],
  ])('waits for a blocked drain that is forced %s, and clones both VMs in one run', async (_when, part) => {
    const log = await primed();
    const { queue, turns, run, elapsed, share, least } = log;
    // Inside the holds the queue measured: placed by the least shares.
    const forcedIn = part * least.forcedShare - (part === 1 ? 100 : 0);
    queue.drainOf('b', 'blocked', Date.now() + forcedIn, true);
    const asked = elapsed();
    const a = queue.submit(run('create', 'a', CLONE_MS));
    await sleep(forcedIn);
    queue.drainOf('b', 'drained');
    await sleep(least.share / 2);
    await destroyThenCloneTogether(log, a);
    expect((turns[0]?.at ?? 0) - asked).toBeLessThan(forcedIn + share + 250);
  });

  it('waits at most its longer share for a forced drain that is not through', async () => {
    const { queue, turns, run, elapsed, forcedShare, least } = await primed();
    queue.drainOf('b', 'blocked', Date.now() + forcedShare / 4, true);
    const asked = elapsed();
    await queue.submit(run('create', 'a', 10));
    const waited = (turns[0]?.at ?? 0) - asked;
    expect(waited).toBeGreaterThanOrEqual(least.forcedShare - 20);
    expect(waited).toBeLessThan(forcedShare + 250);
  });

  it('waits only the short share from the end of a forced drain whose destroy does not come', async () => {
    const { queue, turns, run, elapsed, forcedShare, least } = await primed();
    const forcedIn = forcedShare / 4;
    queue.drainOf('b', 'blocked', Date.now() + forcedIn, true);
    const asked = elapsed();
    const a = queue.submit(run('create', 'a', 10));
    await sleep(forcedIn);
    const through = elapsed();
    queue.drainOf('b', 'drained');
    await a;
    const waited = (turns[0]?.at ?? 0) - asked;
    expect((turns[0]?.at ?? 0) - through).toBeGreaterThanOrEqual(least.share - 20);
    expect(waited).toBeLessThan(forcedShare - 100);
  });

  it('does not wait for a forced drain whose deadline is beyond its share, nor pass an old forced end on', async () => {
    const { queue, turns, run, elapsed, share, forcedShare } = await primed();
    queue.drainOf('b', 'blocked', Date.now() + 3 * forcedShare, true);
    // c was forced before and its destroy never came; its next drain may not force.
    queue.drainOf('c', 'blocked', Date.now() + forcedShare / 2, true);
    queue.drainOf('c', 'blocked', Date.now() + forcedShare / 2 + 1, false);
    const asked = elapsed();
    await queue.submit(run('create', 'a', 10));
    expect((turns[0]?.at ?? 0) - asked).toBeLessThan(share / 2);
  });

  it('counts the short share from the end of a drain that ends after the create came', async () => {
    const log = await primed();
    const { queue, run, share } = log;
    queue.drainOf('b', 'draining', Date.now() + 60_000);
    const a = queue.submit(run('create', 'a', CLONE_MS));
    await sleep(share * 0.75);
    queue.drainOf('b', 'drained');
    // Past the share from the create's arrival, within the share from the drain's end.
    await sleep(share * 0.5);
    await destroyThenCloneTogether(log, a);
  });

  it('waits for a destroy that said it is on its way past the short share, and clones both VMs in one run', async () => {
    const log = await primed();
    const { queue, run, share } = log;
    queue.drainOf('b', 'drained');
    const a = queue.submit(run('create', 'a', CLONE_MS));
    await sleep(share / 2);
    queue.destroyComing('b');
    // Its state check outlasts the short share.
    await sleep(share * 1.5);
    await destroyThenCloneTogether(log, a);
  });

  it('stops waiting for a destroy on its way once it says none comes', async () => {
    const { queue, turns, run, elapsed, share } = await primed();
    const noDestroy = queue.destroyComing('b');
    const asked = elapsed();
    const a = queue.submit(run('create', 'a', 10));
    await sleep(share);
    noDestroy();
    await a;
    expect((turns[0]?.at ?? 0) - asked).toBeLessThan(share + 250);
  });

  it('still waits for a destroy said again when an earlier attempt of it says none comes', async () => {
    const { queue, turns, run, elapsed, least } = await primed();
    const earlierAttempt = queue.destroyComing('b');
    queue.destroyComing('b');
    earlierAttempt();
    const asked = elapsed();
    await queue.submit(run('create', 'a', 10));
    expect((turns[0]?.at ?? 0) - asked).toBeGreaterThanOrEqual(least.forcedShare - 20);
  });

  it('waits at most a clone for a destroy on its way that never asks for its turn', async () => {
    const { queue, turns, run, elapsed, forcedShare, least } = await primed();
    queue.destroyComing('b');
    const asked = elapsed();
    await queue.submit(run('create', 'a', 10));
    const waited = (turns[0]?.at ?? 0) - asked;
    expect(waited).toBeGreaterThanOrEqual(least.forcedShare - 20);
    expect(waited).toBeLessThan(forcedShare + 250);
  });

  it('never holds a destroy, even while another drain is under way', async () => {
    const { queue, turns, run, elapsed, share } = await primed();
    queue.drainOf('c', 'draining', Date.now() + 60_000);
    const asked = elapsed();
    await queue.submit(run('destroy', 'b', 10));
    expect((turns[0]?.at ?? 0) - asked).toBeLessThan(share / 2);
  });
});
