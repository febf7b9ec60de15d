import { CancellationScope, log } from '@temporalio/workflow';
import { describeFailure } from './failures.js';

type Compensation = { name: string; run: () => Promise<void> };

/** What an operator decided about an undo that could not finish by itself. */
export type StuckDecision = { action: 'retry' } | { action: 'abandon'; reason: string };

/**
 * Asked when an undo has failed for good (its retries spent, or a refusal no retry can change): the
 * answer comes from an operator. Without it an undo that fails is recorded and the next one runs.
 */
export type OnStuck = (name: string, error: string) => Promise<StuckDecision>;

/**
 * The undo steps of a node upgrade, newest first. They run in a non-cancellable scope, so a cancel
 * from the Web UI still leaves the node safe (never destroyed-and-not-recreated, never left cordoned).
 */
export class Saga {
  private readonly compensations: Compensation[] = [];

  add(name: string, run: () => Promise<void>): void {
    this.compensations.push({ name, run });
  }

  /** How many undos are registered: none means nothing was changed that needs one. */
  get size(): number {
    return this.compensations.length;
  }

  async compensate(onStuck?: OnStuck): Promise<{ ok: boolean; errors: string[] }> {
    const errors: string[] = [];
    await CancellationScope.nonCancellable(async () => {
      for (const compensation of [...this.compensations].reverse()) {
        for (;;) {
          try {
            log.info('compensating', { step: compensation.name });
            await compensation.run();
            break;
          } catch (error) {
            const message = describeFailure(error);
            const decision = onStuck ? await onStuck(compensation.name, message) : undefined;
            if (decision?.action === 'retry') continue;
            errors.push(
              `${compensation.name}: ${message}${decision ? ` (abandoned by an operator: ${decision.reason})` : ''}`,
            );
            break;
          }
        }
      }
    });
    return { ok: errors.length === 0, errors };
  }
}
