import { expect, it } from '@jest/globals';
import { matrixTable, runMatrix } from '../../bench/matrix.js';

/**
 * The fault matrix in full, as `npm run bench -- matrix` runs it: pets and cattle × a controller and
 * a worker × an operator's cancel, a terminated cluster run and a SIGKILLed worker at the node's
 * world-changing step. It prints one row per cell; every cell must leave the cluster safe (nothing
 * cordoned, every VM running and Ready, etcd quorum held, no Terraform lock) with the right outcomes.
 */
it('the fault matrix: every cell leaves the cluster safe', async () => {
  const results = await runMatrix({ preset: 'atlas', log: () => undefined });
  console.log(matrixTable(results));
  expect(results).toHaveLength(12);
  expect(
    results
      .filter((r) => r.problems.length > 0)
      .map((r) => `${r.strategy} ${r.role} ${r.action}: ${r.problems.join('; ')}`),
  ).toEqual([]);
}, 2_400_000);
