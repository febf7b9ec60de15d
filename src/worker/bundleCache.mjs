// The cache rules shared by the two bundles a start may need: the entry bundle that replaces tsx
// (bin/lib/entryBundle.js) and the worker's workflow bundle (workflowBundle.ts). Plain JavaScript
// because the entry loader runs before any TypeScript can; the entry bundle leaves .mjs imports
// outside itself, so a worker's two callers share this module, and its digests, in one process.
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { access, readdir, readFile, rename, rm, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';

/** Bundles of one kind kept: the current one and two earlier (a branch switched back and forth). */
const KEPT_BUNDLES = 3;

/** A builder's unfinished file older than this was left by a builder that died. */
const STALE_PARTIAL_MS = 3600_000;

/** Where a cache cannot be written (an image's /app run as another user). */
const UNWRITABLE = new Set(['EACCES', 'EPERM', 'EROFS']);

/** @param {unknown} error */
const codeOf = (error) => /** @type {NodeJS.ErrnoException} */ (error).code ?? '';

/**
 * @param {unknown} error
 * @returns {boolean} whether the error says the cache is read-only, not broken
 */
export function isUnwritable(error) {
  return UNWRITABLE.has(codeOf(error));
}

/**
 * The files under the given trees of root whose relative paths pass `keep`, sorted; a tree that is
 * missing (an image that ships src/ only has no lab) has none.
 * @param {string} root
 * @param {string[]} trees
 * @param {(path: string) => boolean} keep
 * @returns {Promise<string[]>} paths relative to root
 */
export async function listFiles(root, trees, keep) {
  const files = [];
  for (const tree of trees) {
    const names = await readdir(join(root, tree), { recursive: true }).catch(
      (/** @type {unknown} */ error) => {
        if (codeOf(error) === 'ENOENT') return [];
        throw error;
      },
    );
    for (const name of names) {
      const path = join(tree, name);
      if (!name.split('/').includes('node_modules') && keep(path)) files.push(path);
    }
  }
  return files.sort();
}

/**
 * Each file's content digest, by absolute path, with the stat it was read at. A worker's start
 * names both its bundles by the same sources: the second pays a stat per file, not a read. A file
 * changed in the last two seconds is not remembered: an edit within the clock's grain that kept the
 * size would keep the stat too.
 * @type {Map<string, { key: string, digest: string }>}
 */
const digests = new Map();
const RACY_MS = 2000;

/** @param {string} path @returns {Promise<string>} */
async function digestOf(path) {
  const { dev, ino, size, mtimeMs, ctimeMs } = await stat(path);
  const key = `${dev}:${ino}:${size}:${mtimeMs}:${ctimeMs}`;
  const known = digests.get(path);
  if (known?.key === key) return known.digest;
  const digest = createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
  if (Date.now() - Math.max(mtimeMs, ctimeMs) > RACY_MS) digests.set(path, { key, digest });
  return digest;
}

/**
 * A bundle's version: 16 hex digits of a hash over the given values (recipe, versions), then each
 * file's path and content.
 * @param {string} root
 * @param {string[]} files relative to root
 * @param {string[]} values
 * @returns {Promise<string>}
 */
export async function hashOf(root, files, values) {
  const hash = createHash('sha256');
  for (const value of values) hash.update(value).update('\0');
  for (const file of files)
    hash
      .update(file)
      .update('\0')
      .update(await digestOf(join(root, file)));
  return hash.digest('hex').slice(0, 16);
}

/**
 * Marks a cached bundle as just used, which pruning goes by.
 * @param {string} path
 * @returns {Promise<boolean>} whether it exists and can be read; a read-only cache (an image's, which
 *   keeps what it was built with) cannot mark it, and some file systems refuse to set times
 */
export async function markUsed(path) {
  const now = new Date();
  try {
    await utimes(path, now, now);
    return true;
  } catch (error) {
    if (codeOf(error) === 'ENOENT') return false;
    return access(path, constants.R_OK).then(
      () => true,
      () => false,
    );
  }
}

/**
 * Writes a file whole: `write` fills a temporary name beside it, renamed into place once complete,
 * so a process started meanwhile never loads half a bundle. A builder killed meanwhile leaves its
 * temporary file, which pruning removes once it is an hour old.
 * @param {string} path
 * @param {(partial: string) => Promise<void>} write
 */
export async function writeWhole(path, write) {
  const partial = `${path}.${process.pid}.partial`;
  try {
    await write(partial);
    await rename(partial, path);
  } catch (error) {
    // The build's own error is the one to see, not a failure to tidy up after it.
    await rm(partial, { force: true }).catch(() => undefined);
    throw error;
  }
}

/**
 * Keeps the `keep` (by default three) most recently used bundles whose names match `bundle` (each
 * build of an edited source makes one; a branch switched back and forth reuses the kept ones), and
 * removes the unfinished files of builders of this kind that died. Another process that loaded an
 * older bundle has read it.
 * @param {string} dir
 * @param {RegExp} bundle matches a whole bundle name of one kind
 * @param {number} [keep]
 * @param {number} [now]
 */
export async function pruneCache(dir, bundle, keep = KEPT_BUNDLES, now = Date.now()) {
  const entries = await Promise.all(
    (await readdir(dir)).map(async (name) => ({
      name,
      mtime: (await stat(join(dir, name)).catch(() => undefined))?.mtimeMs ?? 0,
    })),
  );
  const bundles = entries.filter(({ name }) => bundle.test(name)).sort((a, b) => b.mtime - a.mtime);
  const deadPartials = entries.filter(({ name, mtime }) => {
    const finished = /^(.*)\.\d+\.partial$/.exec(name)?.[1];
    return finished !== undefined && bundle.test(finished) && now - mtime > STALE_PARTIAL_MS;
  });
  await Promise.all(
    [...bundles.slice(keep), ...deadPartials].map(({ name }) => rm(join(dir, name), { force: true })),
  );
}
