import { execFile } from 'node:child_process';
import { access, mkdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { hashOf, listFiles, markUsed, pruneCache } from './bundleCache.mjs';

const SRC = fileURLToPath(new URL('../', import.meta.url));
const PROJECT = join(SRC, '..');
/** The workflows and the interceptor that summarises their activities for the Web UI. */
const WORKFLOWS = join(SRC, 'workflows/index.ts');
const INTERCEPTORS = join(SRC, 'workflows/interceptors.ts');

/**
 * The bundle's name: a hash of every source file and of the lockfile (the SDK's and the libraries'
 * versions). More than the bundle reads, so that no change it depends on can be missed.
 */
async function sourceHash(): Promise<string> {
  const sources = await listFiles(PROJECT, ['src'], (path) => /\.(ts|mjs)$/.test(path));
  const lockfile = await readFile(join(PROJECT, 'package-lock.json'), 'utf8').catch(() => 'no lockfile');
  return hashOf(PROJECT, sources, [lockfile]);
}

/** The project's own cache, else the temp dir (an image whose /app the worker may not write). */
async function cacheDir(): Promise<string> {
  for (const dir of [
    join(PROJECT, '.cache', 'workflow-bundle'),
    join(tmpdir(), 'talos-upgrade-workflow-bundle'),
  ]) {
    try {
      await mkdir(dir, { recursive: true });
      await access(dir, 2 /* W_OK */);
      return dir;
    } catch {
      // Not writable: the next one.
    }
  }
  throw new Error('no writable directory for the workflow bundle (the project .cache/ or the temp dir)');
}

/**
 * A workflow bundle's name; each is 4–5 MiB and a developer's every edit of src/ makes one, so all
 * but the three used last are removed once a new one is built (a branch switched back and forth).
 */
export const WORKFLOW_BUNDLE_NAME = /^workflows-[0-9a-f]+\.js$/;

let built: Promise<string> | undefined;

/**
 * What every worker of the product runs as workflow code, as the Worker's `workflowBundle` option:
 * the worker, the tests' workers and the replay check share it, so each replays exactly what runs.
 * Bundled once per source version and kept (webpack takes seconds of CPU and hundreds of MiB, which
 * a worker started after a crash, or one of a test run's many, no longer pays); a missing bundle is
 * built in a child process.
 */
export async function workflowBundle(): Promise<{ workflowBundle: { codePath: string } }> {
  built ??= (async () => {
    const codePath = join(await cacheDir(), `workflows-${await sourceHash()}.js`);
    if (!(await markUsed(codePath))) {
      const builder = fileURLToPath(new URL('./bundleWorkflows.mjs', import.meta.url));
      await promisify(execFile)(process.execPath, [builder, WORKFLOWS, INTERCEPTORS, codePath], {
        maxBuffer: 16 * 1024 * 1024,
      }).catch((error: Error & { stderr?: string }) => {
        throw new Error(`bundling the workflows failed: ${error.stderr?.trim() || error.message}`);
      });
      // Housekeeping only: a bundle that cannot be removed is no reason to fail the worker.
      await pruneCache(dirname(codePath), WORKFLOW_BUNDLE_NAME).catch(() => undefined);
    }
    return codePath;
  })();
  // A failed build is tried again by the next caller, not remembered.
  built.catch(() => (built = undefined));
  return { workflowBundle: { codePath: await built } };
}
