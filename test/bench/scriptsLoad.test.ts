import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, it } from '@jest/globals';
import { execa } from 'execa';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Every bench script loads as `npm run bench` runs it: plain node, outside jest. The suites that run
 * them load the same modules under jest, where a helper importing jest's `expect` still works; on
 * 2026-11-30 one such import had broken `npm run bench -- matrix`, chaos and unavailable unseen. One
 * node process imports them all (a script runs its command only as node's entry point).
 */
it('every bench script loads outside jest', async () => {
  const scripts = readdirSync(`${ROOT}bench`).filter((name) => name.endsWith('.ts'));
  const load = `for (const s of ${JSON.stringify(scripts)}) await import('./bench/' + s); console.log('loaded');`;
  const result = await execa('node', ['--import', 'tsx', '--input-type=module', '-e', load], {
    cwd: ROOT,
    reject: false,
    timeout: 90_000,
  });
  // The exit code with what node said on stderr: a failure shows why.
  expect([result.exitCode, result.exitCode === 0 ? '' : result.stderr]).toEqual([0, '']);
  expect(result.stdout).toBe('loaded');
});
