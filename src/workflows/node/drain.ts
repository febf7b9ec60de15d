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
  run.saga.add('uncordon', async () => void (await run.undoRead.uncordonNode(at)), 'releases');
  run.step('cordoning and draining');
  await run.change.drainNode({
    ...at,
    timeoutMs: input.timing.drainTimeoutMs,
    force: input.drainForce,
    ...(recreated ? { recreated } : {}),
  });
}

/**
 * Once the node is back in service (uncordoned: its run is past everything but the gate after it), an
 * undo that takes it down again must not do so under the pods that came back: the undo cordons and
 * drains it first, under the same budgets and timeout, inside its own step, so that a drain that
 * fails leaves the node up as it is (retried, or abandoned with the undo by an operator) and never
 * rebooted or destroyed anyway. The uncordon registered with the first drain runs after the undo.
 */
export async function drainForUndo(run: NodeRun): Promise<void> {
  const { input, at } = run;
  if (!run.backInService) return;
  await run.undo.drainNode({
    ...at,
    timeoutMs: input.timing.drainTimeoutMs,
    force: input.drainForce,
    ...(input.strategy === 'cattle' ? { recreated: true } : {}),
  });
}
