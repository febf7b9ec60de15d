// Loads one of the project's TypeScript entry points (the product's CLI and worker, the lab's CLI and
// daemon) as a single ES module that esbuild bundles once per source version and keeps in
// .cache/entry-bundles/. Why: through tsx, every start resolves, loads and maps each source file
// through loader hooks on another thread: a worker's start cost 2.9 s of CPU on the 2-core test
// machine, 1.5 s bundled, and a test run starts hundreds of such processes. A fresh clone still
// needs no build step: the first start builds the bundle (0.3 s), and any edit of src/ or lab/
// yields a new one.
//
// Packages stay outside the bundle and resolve from node_modules, which is why the bundle lives in
// the project and not in the temp dir. Where the project is not writable (a container's /app run as
// another user) or esbuild fails, the entry is loaded through tsx, as before.
import { createHash } from 'node:crypto';
import { access, mkdir, readdir, readFile, rename, rm, stat, utimes } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const PROJECT = fileURLToPath(new URL('../../', import.meta.url));
const CACHE = join(PROJECT, '.cache', 'entry-bundles');
/** Every entry may import from both trees (the lab imports src/domain), so both name each bundle. */
const SOURCE_TREES = ['src', 'lab'];
/** Besides the sources, what decides a bundle's content: these build options and the compiler settings. */
const RECIPE_FILES = [fileURLToPath(import.meta.url), join(PROJECT, 'tsconfig.json')];
/** Bundles of earlier source versions kept per entry (a branch switched back and forth). */
const KEPT_PER_ENTRY = 3;
/** A builder's unfinished file older than this was left by a builder that died. */
const STALE_PARTIAL_MS = 3600_000;

/** @param {string} dir @returns {Promise<string[]>} the TypeScript files under dir, sorted */
async function typescriptFiles(dir) {
  // An image that ships src/ only has no lab sources: none to hash.
  const names = await readdir(join(PROJECT, dir), { recursive: true }).catch(
    (/** @type {unknown} */ error) => {
      if (/** @type {NodeJS.ErrnoException} */ (error).code === 'ENOENT') return [];
      throw error;
    },
  );
  return names
    .filter((name) => name.endsWith('.ts') && !name.split('/').includes('node_modules'))
    .map((name) => join(dir, name))
    .sort();
}

/**
 * The bundle's file name: a hash of what goes into it. The project's own path too: the bundle holds
 * absolute file URLs (below), so a checkout moved or copied with its .cache/ builds its own.
 * @param {string} entry project-relative path
 * @returns {Promise<string>}
 */
async function bundleName(entry) {
  const esbuildVersion = /** @type {{ version: string }} */ (
    createRequire(import.meta.url)('esbuild/package.json')
  ).version;
  const hash = createHash('sha256').update(`${PROJECT}\0${entry}\0${esbuildVersion}\0`);
  for (const file of RECIPE_FILES) hash.update(await readFile(file).catch(() => 'none')).update('\0');
  for (const tree of SOURCE_TREES) {
    for (const file of await typescriptFiles(tree)) {
      hash
        .update(file)
        .update('\0')
        .update(await readFile(join(PROJECT, file)));
    }
  }
  const stem = entry.replace(/\.ts$/, '').replaceAll('/', '-');
  return `${stem}-${hash.digest('hex').slice(0, 16)}.mjs`;
}

/**
 * A source file's `import.meta.url` names that file, not the bundle: the code finds its neighbours
 * (scripts, examples, the project root) by it. A plain text replacement: the sources use it only as
 * `new URL(…, import.meta.url)`. Only TypeScript is bundled, since only .ts files name a bundle; any
 * other file imported (a .json) fails the build, loudly, rather than go stale in it.
 * @type {import('esbuild').Plugin}
 */
const keepImportMetaUrl = {
  name: 'keep-import-meta-url',
  setup(build) {
    build.onLoad({ filter: /\.ts$/ }, async ({ path }) => ({
      contents: (await readFile(path, 'utf8')).replaceAll(
        'import.meta.url',
        JSON.stringify(pathToFileURL(path).href),
      ),
      loader: 'ts',
    }));
    build.onLoad({ filter: /.*/ }, ({ path }) => ({
      errors: [{ text: `${path}: only .ts sources are bundled (the bundle's name hashes .ts files only)` }],
    }));
  },
};

/** @param {string} entry @param {string} outfile */
async function build(entry, outfile) {
  const esbuild = await import('esbuild');
  const partial = `${outfile}.${process.pid}.partial`;
  try {
    await esbuild.build({
      entryPoints: [join(PROJECT, entry)],
      outfile: partial,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      // Stack traces name the TypeScript files and lines (enabled at load, below).
      sourcemap: 'inline',
      plugins: [keepImportMetaUrl],
      logLevel: 'silent',
    });
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  } finally {
    // esbuild's service process would otherwise live as long as the worker or the lab daemon.
    await esbuild.stop();
  }
  // Renamed into place whole, so a process started meanwhile never loads half a bundle.
  await rename(partial, outfile);
}

/**
 * Keeps the most recently used bundles of this entry; a bundle's time is its last use.
 * @param {string} stem
 */
async function prune(stem) {
  const now = Date.now();
  const entries = await Promise.all(
    (await readdir(CACHE)).map(async (name) => ({
      name,
      mtime: (await stat(join(CACHE, name)).catch(() => undefined))?.mtimeMs ?? 0,
    })),
  );
  const ours = entries
    .filter(({ name }) => new RegExp(`^${stem}-[0-9a-f]{16}\\.mjs$`).test(name))
    .sort((a, b) => b.mtime - a.mtime);
  const stale = entries.filter(
    ({ name, mtime }) => name.endsWith('.partial') && now - mtime > STALE_PARTIAL_MS,
  );
  await Promise.all(
    [...ours.slice(KEPT_PER_ENTRY), ...stale].map(({ name }) => rm(join(CACHE, name), { force: true })),
  );
}

/** Where the cache cannot be written (an image's /app run as another user), tsx loads the sources. */
const UNWRITABLE = new Set(['EACCES', 'EPERM', 'EROFS']);

/**
 * The bundle's path, built when missing; undefined when it cannot be (then tsx loads the entry).
 * @param {string} entry project-relative path of a .ts file
 * @returns {Promise<string | undefined>}
 */
export async function entryBundlePath(entry) {
  if (process.env.TALOS_UPGRADE_ENTRY_BUNDLE === '0') return undefined;
  try {
    const outfile = join(CACHE, await bundleName(entry));
    const exists = await access(outfile).then(
      () => true,
      () => false,
    );
    if (exists) {
      // Its time is its last use, which pruning goes by; a read-only cache (an image's) keeps its own.
      const now = new Date();
      await utimes(outfile, now, now).catch(() => undefined);
    } else {
      await mkdir(CACHE, { recursive: true });
      await build(entry, outfile);
      // Housekeeping only: a bundle that cannot be removed is no reason to fail the start.
      await prune(basename(outfile).replace(/-[0-9a-f]{16}\.mjs$/, '')).catch(() => undefined);
    }
    return outfile;
  } catch (error) {
    // A failed build is a defect to see, though the command still runs; an unwritable cache is not.
    if (!UNWRITABLE.has(/** @type {NodeJS.ErrnoException} */ (error).code ?? ''))
      console.error(`[entry-bundle] bundling ${entry} failed, running it through tsx: ${String(error)}`);
    return undefined;
  }
}

/**
 * Imports the entry (relative to the project root) from its bundle, else through tsx.
 * @param {string} entry
 * @returns {Promise<Record<string, unknown>>} the entry's exports
 */
export async function importEntry(entry) {
  const bundle = await entryBundlePath(entry);
  if (bundle) {
    process.setSourceMapsEnabled(true);
    return import(pathToFileURL(bundle).href);
  }
  const { register } = await import('tsx/esm/api');
  register();
  return import(pathToFileURL(join(PROJECT, entry)).href);
}
