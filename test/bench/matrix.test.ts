import { expect, it } from '@jest/globals';
import { matrixTable, runMatrix } from '../../bench/matrix.js';
import { MATRIX_HOPS } from '../../bench/lib/matrixCells.js';

/**
 * The fault matrix in full, as `npm run bench -- matrix` runs it: pets and cattle × an operator's
 * cancel, a terminated cluster run and a SIGKILLed worker, during planning, the approval wait,
 * pre-flight and the templates, at every step of a control plane, during its undo, and at the
 * world-changing step of a controller and a worker. It prints one row per cell; every cell must leave
 * the cluster safe (nothing cordoned or staged, every VM running and Ready, etcd quorum held, no
 * Terraform lock) with the right outcomes and the operator told.
 */
it('the fault matrix: every cell leaves the cluster safe', async () => {
  const results = await runMatrix({ preset: 'atlas', log: () => undefined });
  const failed = results
    .filter((r) => r.problems.length > 0)
    .map((r) => `${r.strategy} ${r.role} ${r.moment} ${r.action}: ${r.problems.join('; ')}`);
  // The failed cells first: a CI log cut after its first lines still says which cell failed and why.
  if (failed.length) console.log(`failed cells:\n${failed.join('\n')}`);
  console.log(matrixTable(results));
  expect(results).toHaveLength(MATRIX_HOPS.reduce((sum, hop) => sum + hop.cells.length, 0));
  expect(failed).toEqual([]);
}, 3_000_000);
