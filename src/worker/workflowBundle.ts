import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { access, mkdir, readdir, readFile, rm, stat, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

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
  const hash = createHash('sha256');
  const files = (await readdir(SRC, { recursive: true })).filter((f) => /\.(ts|mjs)$/.test(f)).sort();
  for (const file of files) hash.update(file).update(await readFile(join(SRC, file)));
  hash.update(await readFile(join(PROJECT, 'package-lock.json')).catch(() => Buffer.from('no lockfile')));
  return hash.digest('hex').slice(0, 16);
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

/** Bundles of earlier source versions kept beside the current one (a branch switched back and forth). */
const KEPT_BUNDLES = 3;

/** A builder's unfinished file older than this was left by a builder that died. */
const STALE_PARTIAL_MS = 3600_000;

/**
 * Removes all but the most recently used bundles once a new one is built (each is 4–5 MiB, and a
 * developer's every edit of src/ makes one), and the unfinished files of builders that died. A bundle's
 * time is its last use: a worker touches the one it reuses. Another checkout's worker that loaded an
 * older one has read it already.
 */
export async function pruneBundles(dir: string, now = Date.now()): Promise<void> {
  const entries = await Promise.all(
    (await readdir(dir)).map(async (name) => ({
      name,
      mtime: (await stat(join(dir, name)).catch(() => undefined))?.mtimeMs ?? 0,
    })),
  );
  const bundles = entries.filter(({ name }) => /^workflows-[0-9a-f]+\.js$/.test(name));
  bundles.sort((a, b) => b.mtime - a.mtime);
  const stalePartials = entries.filter(
    ({ name, mtime }) =>
      /^workflows-[0-9a-f]+\.js\.\d+\.partial$/.test(name) && now - mtime > STALE_PARTIAL_MS,
  );
  await Promise.all(
    [...bundles.slice(KEPT_BUNDLES), ...stalePartials].map(({ name }) =>
      rm(join(dir, name), { force: true }),
    ),
  );
}

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
    const exists = await access(codePath).then(
      () => true,
      () => false,
    );
    if (!exists) {
      const builder = fileURLToPath(new URL('./bundleWorkflows.mjs', import.meta.url));
      await promisify(execFile)(process.execPath, [builder, WORKFLOWS, INTERCEPTORS, codePath], {
        maxBuffer: 16 * 1024 * 1024,
      }).catch((error: Error & { stderr?: string }) => {
        throw new Error(`bundling the workflows failed: ${error.stderr?.trim() || error.message}`);
      });
      // Housekeeping only: a bundle that cannot be removed is no reason to fail the worker.
      await pruneBundles(dirname(codePath)).catch(() => undefined);
    } else {
      // Its time is its last use, which pruning goes by.
      const now = new Date();
      await utimes(codePath, now, now).catch(() => undefined);
    }
    return codePath;
  })();
  // A failed build is tried again by the next caller, not remembered.
  built.catch(() => (built = undefined));
  return { workflowBundle: { codePath: await built } };
}
