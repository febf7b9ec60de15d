import type { NodeRun } from './run.js';

/**
 * Cordon and our PDB-aware drain, in one activity: the node is out of service from here. The uncordon
 * is registered first, since a cordon may land before the drain fails. The cordon is inside the drain
 * activity, not a local step: a local cordon would run in the same workflow task as the local health
 * gate before it, and a worker lost before that task completed would replay the gate against a node
 * this run had already cordoned. A cattle node's drain says so (`recreated`): the worker's Terraform
 * queue then expects its destroy.
 */
export async function cordonAndDrain(run: NodeRun, recreated = false): Promise<void> {
  const { input, at } = run;
  run.saga.add('uncordon', async () => void (await run.undoRead.uncordonNode(at)));
  run.step('cordoning and draining');
  await run.change.drainNode({
    ...at,
    timeoutMs: input.timing.drainTimeoutMs,
    force: input.drainForce,
    ...(recreated ? { recreated } : {}),
  });
}

/**
 * Once the node is uncordoned (its run is past everything but the gate after it), an undo that takes
 * it down again must not do so under the pods that came back: it is cordoned and drained first, under
 * the same budgets and timeout. The uncordon registered with the first drain stays, and runs after
 * the undo. A drain that a budget blocks leaves the undo stuck for an operator, the node up as it is.
 */
export function drainAgainBeforeAnUndo(run: NodeRun): void {
  const { input, at } = run;
  run.saga.add('cordon and drain for the undo', async () => {
    await run.undo.drainNode({
      ...at,
      timeoutMs: input.timing.drainTimeoutMs,
      force: input.drainForce,
      ...(input.strategy === 'cattle' ? { recreated: true } : {}),
    });
  });
}
