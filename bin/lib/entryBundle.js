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
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  hashOf,
  isUnwritable,
  listFiles,
  markUsed,
  pruneCache,
  writeWhole,
} from '../../src/worker/bundleCache.mjs';

const PROJECT = fileURLToPath(new URL('../../', import.meta.url));
const CACHE = join(PROJECT, '.cache', 'entry-bundles');
/** Every entry may import from both trees (the lab imports src/domain), so both name each bundle. */
const SOURCE_TREES = ['src', 'lab'];
/** Besides the sources, what decides a bundle's content: these build options and the compiler settings. */
const RECIPE_FILES = ['bin/lib/entryBundle.js', 'tsconfig.json'];

/** @param {string} entry project-relative path @returns {string} the bundle names' stem */
const stemOf = (entry) => entry.replace(/\.ts$/, '').replaceAll('/', '-');

/** @param {string} text @returns {string} `text` matched literally in a RegExp */
const escapeRegExp = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** @param {string} entry project-relative path @returns {RegExp} the names of its bundles */
export const bundlesOf = (entry) => new RegExp(`^${escapeRegExp(stemOf(entry))}-[0-9a-f]{16}\\.mjs$`);

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
  const sources = await listFiles(PROJECT, SOURCE_TREES, (path) => path.endsWith('.ts'));
  const hash = await hashOf(PROJECT, [...RECIPE_FILES, ...sources], [PROJECT, entry, esbuildVersion]);
  return `${stemOf(entry)}-${hash}.mjs`;
}

/**
 * A source file's `import.meta.url` names that file, not the bundle: the code finds its neighbours
 * (scripts, examples, the project root) by it. A plain text replacement: the sources use it only as
 * `new URL(…, import.meta.url)`. Only TypeScript is bundled, since only .ts files name a bundle. A
 * plain .mjs module of the project stays outside and loads from its file (so it cannot go stale in
 * the bundle, and this loader and the code bundled share one instance of it); any other file
 * imported (a .json) fails the build, loudly, rather than go stale in it.
 * @type {import('esbuild').Plugin}
 */
const keepImportMetaUrl = {
  name: 'keep-import-meta-url',
  setup(build) {
    // An import that names no .mjs file is left to esbuild: the build fails, names the importer and
    // writes nothing, and tsx runs the sources (which may resolve it to a .mts, never bundled here),
    // instead of a bundle that fails at its load.
    build.onResolve({ filter: /^\.\.?\/.*\.mjs$/ }, ({ path, resolveDir }) => {
      const file = join(resolveDir, path);
      return existsSync(file) ? { path: pathToFileURL(file).href, external: true } : undefined;
    });
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
  try {
    await writeWhole(outfile, async (partial) => {
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
    });
  } finally {
    // esbuild's service process would otherwise live as long as the worker or the lab daemon.
    await esbuild.stop();
  }
}

/**
 * The bundle's path, built when missing; undefined when it cannot be (then tsx loads the entry).
 * @param {string} entry project-relative path of a .ts file
 * @returns {Promise<string | undefined>}
 */
export async function entryBundlePath(entry) {
  if (process.env.TALOS_UPGRADE_ENTRY_BUNDLE === '0') return undefined;
  try {
    const outfile = join(CACHE, await bundleName(entry));
    if (!(await markUsed(outfile))) {
      await mkdir(CACHE, { recursive: true });
      await build(entry, outfile);
      // Housekeeping only: a bundle that cannot be removed is no reason to fail the start.
      await pruneCache(CACHE, bundlesOf(entry)).catch(() => undefined);
    }
    return outfile;
  } catch (error) {
    // A failed build is a defect to see, though the command still runs; an unwritable cache (an
    // image's /app run as another user) is not: tsx loads the sources.
    if (!isUnwritable(error))
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
