import { CancellationScope, log } from '@temporalio/workflow';

type Compensation = { name: string; run: () => Promise<void> };

/**
 * The undo steps of a node upgrade, newest first. They run in a non-cancellable scope, so a cancel
 * from the Web UI still leaves the node safe (never destroyed-and-not-recreated, never left cordoned).
 */
export class Saga {
  private readonly compensations: Compensation[] = [];

  add(name: string, run: () => Promise<void>): void {
    this.compensations.push({ name, run });
  }

  /** Forgets an undo that is no longer needed (the node was uncordoned on purpose). */
  drop(name: string): void {
    const index = this.compensations.findIndex((c) => c.name === name);
    if (index >= 0) this.compensations.splice(index, 1);
  }

  async compensate(): Promise<{ ok: boolean; errors: string[] }> {
    const errors: string[] = [];
    await CancellationScope.nonCancellable(async () => {
      for (const compensation of [...this.compensations].reverse()) {
        try {
          log.info('compensating', { step: compensation.name });
          await compensation.run();
        } catch (error) {
          errors.push(`${compensation.name}: ${error instanceof Error ? error.message : String(error)}`);
        }
      }
    });
    return { ok: errors.length === 0, errors };
  }
}
