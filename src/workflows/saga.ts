import { CancellationScope, log } from '@temporalio/workflow';
import { describeFailure } from './failures.js';

/**
 * What an undo does to the node: `restores` its old version by a reboot or a new VM (after which the
 * node is checked again), or only `releases` what the run held (an uncordon, a boot slot written back
 * without a reboot), which leaves the node as the checks before the run found it.
 */
export type UndoEffect = 'restores' | 'releases';

type Compensation = { name: string; run: () => Promise<void>; effect: UndoEffect };

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

  add(name: string, run: () => Promise<void>, effect: UndoEffect = 'restores'): void {
    this.compensations.push({ name, run, effect });
  }

  /** Whether an undo would reboot the node or recreate its VM: only then is it checked after. */
  get restores(): boolean {
    return this.compensations.some((c) => c.effect === 'restores');
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
