import { describe, expect, it } from '@jest/globals';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { runCli } from './runCli.js';

const PROJECT = fileURLToPath(new URL('../../', import.meta.url));
const ENTRY_BUNDLE = new URL('../../bin/lib/entryBundle.js', import.meta.url).href;

/** Runs `body` as an ES module in a Node process of its own. */
const runModule = (body: string, env: Record<string, string> = {}) =>
  execa('node', ['--input-type=module', '-e', body], { env, timeout: 60_000, reject: false });

/** Loads a project entry as the commands do (bundled unless the environment says 0) and runs `body`. */
async function withEntry(entry: string, body: string, env: Record<string, string> = {}) {
  const script = `
    import { importEntry } from ${JSON.stringify(ENTRY_BUNDLE)};
    const entry = await importEntry(${JSON.stringify(entry)});
    ${body}`;
  const result = await runModule(script, env);
  if (result.exitCode !== 0) throw new Error(`the script failed (${result.exitCode}):\n${result.stderr}`);
  return result;
}

/** The bundle `entryBundlePath` gives for `entry` (a path, or "undefined"), with what it said. */
const bundleOf = (entry: string) =>
  runModule(
    `import { entryBundlePath } from ${JSON.stringify(ENTRY_BUNDLE)};
     console.log(await entryBundlePath(${JSON.stringify(entry)}));`,
    { TALOS_UPGRADE_ENTRY_BUNDLE: '1' },
  );

describe('the entry bundle the commands load (bin/lib/entryBundle.js)', () => {
  it('runs a command the same bundled and through tsx', async () => {
    const bundled = await runCli(['plan', '--help']);
    const viaTsx = await runCli(['plan', '--help'], { env: { TALOS_UPGRADE_ENTRY_BUNDLE: '0' } });
    expect(bundled.exitCode).toBe(0);
    expect(viaTsx.exitCode).toBe(0);
    expect(bundled.stdout).toBe(viaTsx.stdout);
    expect(bundled.stdout).toContain('Usage: talos-upgrade plan');
  });

  it('names the TypeScript file and line in a stack trace', async () => {
    const { stdout } = await withEntry(
      'src/domain/version.ts',
      `try { entry.parseVersion('not-a-version'); } catch (error) { console.log(error.stack); }`,
    );
    expect(stdout).toContain('is not a version');
    // The throw in parseVersion, mapped from the bundle back to its source.
    expect(stdout).toMatch(/src\/domain\/version\.ts:18:\d+/);
    expect(stdout).not.toMatch(/entry-bundles/);
  });

  it("keeps each source file's import.meta.url, which the code finds its neighbours by", async () => {
    const { stdout } = await withEntry('lab/tools.ts', 'console.log(entry.PROJECT_ROOT);');
    expect(stdout.trim()).toBe(PROJECT);
  });

  // The loader and the worker it loads keep one digest memo: a worker's start then reads each source
  // once for both bundles. That holds only while the bundle imports the module, not a copy of it.
  it('leaves bundleCache.mjs out of the bundle, imported from its file as the loader imports it', async () => {
    const { stdout } = await bundleOf('src/worker/workflowBundle.ts');
    expect(stdout.trim()).toMatch(/entry-bundles\/src-worker-workflowBundle-[0-9a-f]{16}\.mjs$/);
    const bundle = await readFile(stdout.trim(), 'utf8');
    const cacheModule = new URL('../../src/worker/bundleCache.mjs', import.meta.url).href;
    expect(bundle).toContain(`from ${JSON.stringify(cacheModule)}`);
    expect(bundle).not.toMatch(/function pruneCache/);
  });

  // Left outside the bundle unresolved, the import would fail only when the bundle loads: the command
  // would fail where tsx could still run it (or say which file imports what).
  it('builds no bundle for an entry whose .mjs import names no file, and says why', async () => {
    const { stdout, stderr } = await bundleOf('test/fixtures/importsMissingModule.ts');
    expect(stdout.trim()).toBe('undefined');
    expect(stderr).toContain('bundling test/fixtures/importsMissingModule.ts failed, running it through tsx');
    expect(stderr).toContain('noSuchModule.mjs');
  });
});
