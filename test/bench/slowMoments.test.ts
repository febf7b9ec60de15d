import { describe, expect, it } from '@jest/globals';
import { slowMoments } from '../../bench/lib/slowMoments.js';

describe('slowMoments', () => {
  it('counts overlapping slow answers as one moment and marks moments that held a ping', () => {
    const result = slowMoments(
      [
        { sentAt: 0, ms: 5, writes: true }, // fast: not counted
        // One pause: three answers waiting through it together, one of them writing nothing.
        { sentAt: 100, ms: 22, writes: true },
        { sentAt: 101, ms: 21, writes: false },
        { sentAt: 110, ms: 16, writes: true },
        // A lone slow write, later.
        { sentAt: 400, ms: 18, writes: true },
        // Two more moments: the second chained to the first only through an overlap.
        { sentAt: 700, ms: 17, writes: true },
        { sentAt: 716, ms: 30, writes: false },
        { sentAt: 900, ms: 16, writes: false },
      ],
      15,
    );
    expect(result).toEqual({ thresholdMs: 15, answers: 7, moments: 4, withoutWrite: 3 });
  });

  it('finds nothing in a run without slow answers', () => {
    expect(slowMoments([{ sentAt: 0, ms: 3, writes: false }], 15)).toEqual({
      thresholdMs: 15,
      answers: 0,
      moments: 0,
      withoutWrite: 0,
    });
  });
});
