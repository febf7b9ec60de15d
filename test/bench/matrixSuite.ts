import { expect, it } from '@jest/globals';
import type { Strategy } from '../../src/domain/index.js';
import { matrixTable, runMatrix } from '../../bench/matrix.js';
import { MATRIX_HOPS } from '../../bench/lib/matrixCells.js';

/**
 * One hop of the fault matrix in full, as `npm run bench -- matrix --strategy <s>` runs it: an operator's
 * cancel, a terminated cluster run and a SIGKILLed worker, during planning, the approval wait, pre-flight
 * and the templates, at every step of a control plane, during its undo, and at the world-changing step
 * of a controller and a worker. It prints one row per cell; every cell must leave the cluster safe
 * (nothing cordoned or staged, every VM running and Ready, etcd quorum held, no Terraform lock) with
 * the right outcomes and the operator told. Each hop is its own suite on its own lab (the cattle hop's
 * starts at the version the pets hop ends at): the whole matrix, one cell after another, was the
 * longest suite by far and set how short a full run could get.
 */
export function faultMatrixHop(strategy: Strategy): void {
  it(`the fault matrix, ${strategy}: every cell leaves the cluster safe`, async () => {
    const results = await runMatrix({ preset: 'atlas', strategy, log: () => undefined });
    const failed = results
      .filter((r) => r.problems.length > 0)
      .map((r) => `${r.strategy} ${r.role} ${r.moment} ${r.action}: ${r.problems.join('; ')}`);
    // The failed cells first: a CI log cut after its first lines still says which cell failed and why.
    if (failed.length) console.log(`failed cells:\n${failed.join('\n')}`);
    console.log(matrixTable(results));
    const cells = MATRIX_HOPS.filter((hop) => hop.strategy === strategy).flatMap((hop) => hop.cells);
    expect(results).toHaveLength(cells.length);
    expect(failed).toEqual([]);
  }, 3_000_000);
}
