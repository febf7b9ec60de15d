import { describe, expect, it } from '@jest/globals';
import { deferBlockedFromFirstRound, firstRoundCandidates } from '../../src/domain/index.js';

const workers = (...numbers: number[]) => numbers.map((n) => ({ name: `w${n}` }));
const names = (nodes: Array<{ name: string }>) => nodes.map((n) => n.name);
const inventory = workers(1, 2, 3, 4, 5, 6, 7, 8, 9);

describe('deferBlockedFromFirstRound', () => {
  it('starts a blocked first-round worker right after the first round, where the next free lane takes it', () => {
    expect(names(deferBlockedFromFirstRound(inventory, ['w1'], 3))).toEqual(
      names(workers(2, 3, 4, 1, 5, 6, 7, 8, 9)),
    );
    expect(names(deferBlockedFromFirstRound(inventory, ['w3'], 1))).toEqual(names(inventory));
    expect(names(deferBlockedFromFirstRound(inventory, ['w1'], 1))).toEqual(
      names(workers(2, 1, 3, 4, 5, 6, 7, 8, 9)),
    );
  });

  it('keeps the order when no first-round worker is blocked, or when there is no second round', () => {
    expect(deferBlockedFromFirstRound(inventory, ['w4', 'w9'], 3)).toBe(inventory);
    expect(deferBlockedFromFirstRound(inventory, [], 3)).toBe(inventory);
    const oneRound = workers(1, 2, 3);
    expect(deferBlockedFromFirstRound(oneRound, ['w1'], 3)).toBe(oneRound);
  });

  it('fills the first round from the first 2 × width workers only, blocked ones together behind it', () => {
    // w4 is blocked too: it moves up behind the first round with w2, before the free w6.
    expect(names(deferBlockedFromFirstRound(inventory, ['w2', 'w4'], 3))).toEqual(
      names(workers(1, 3, 5, 2, 4, 6, 7, 8, 9)),
    );
    // Fewer free workers than lanes among the first six: the first round still fills up, blocked last.
    expect(names(deferBlockedFromFirstRound(inventory, ['w1', 'w2', 'w3', 'w4', 'w5'], 3))).toEqual(
      names(workers(6, 1, 2, 3, 4, 5, 7, 8, 9)),
    );
  });

  it('takes one worker that carries Ceph OSDs into the first round, the others where they were behind it', () => {
    expect(names(deferBlockedFromFirstRound(inventory, [], 3, ['w1', 'w2', 'w3']))).toEqual(
      names(workers(1, 4, 5, 2, 3, 6, 7, 8, 9)),
    );
    // A blocked worker still comes right after the first round, before the OSD hosts passed over.
    expect(names(deferBlockedFromFirstRound(inventory, ['w1'], 3, ['w1', 'w2', 'w3']))).toEqual(
      names(workers(2, 4, 5, 1, 3, 6, 7, 8, 9)),
    );
    expect(deferBlockedFromFirstRound(inventory, [], 3, ['w1', 'w7'])).toBe(inventory);
    expect(deferBlockedFromFirstRound(inventory, [], 1, ['w1', 'w2'])).toBe(inventory);
  });

  it('asks only about the first 2 × width workers, and about none without a second round', () => {
    expect(names(firstRoundCandidates(inventory, 3))).toEqual(names(workers(1, 2, 3, 4, 5, 6)));
    expect(firstRoundCandidates(workers(1, 2, 3), 3)).toEqual([]);
  });
});
