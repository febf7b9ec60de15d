import { randomUUID } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { mkdtemp, readFile, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { parse } from '@cdktf/hcl2json';
import { inWrittenForm, objectOverride, writtenTalosVersion } from '../domain/index.js';
import type { ClusterAccess } from './deps.js';
import { gitRoot } from './discovery/repository.js';
import { nonRetryable } from './errors.js';

/**
 * The versions file on the worker's machine: versions.file is a path from the repository's root, the
 * Git work tree of the Terraform root (else the inventory's folder), as a merge is read.
 */
export async function versionsFilePath(access: ClusterAccess): Promise<string> {
  const { inventory, baseDir } = access;
  const root =
    (inventory.terraform ? await gitRoot(resolve(baseDir, inventory.terraform.directory)) : undefined) ??
    baseDir;
  return resolve(root, inventory.versions.file);
}

/**
 * This process's folder for the var files it gives Terraform (mkdtemp: only its owner can read it),
 * removed when the process exits; made again when a cleaner took it meanwhile.
 */
let varFiles: Promise<string> | undefined;
let made: string | undefined;
async function varFileFolder(): Promise<string> {
  // One folder even for calls at the same moment: they share the pending mkdtemp.
  if (varFiles && made && !existsSync(made)) varFiles = undefined;
  if (!varFiles) {
    if (made === undefined)
      process.once('exit', () => made && rmSync(made, { recursive: true, force: true }));
    varFiles = mkdtemp(join(tmpdir(), 'talos-upgrade-vars-')).then((dir) => (made = dir));
    varFiles.catch(() => (varFiles = undefined));
  }
  return varFiles;
}

/**
 * How Terraform is told the version a node is planned at, in the form the versions file writes it:
 * `-var <versions.variables.talos>=<version>` for a variable of its own (an unreadable file gives the
 * bare version: the plan then shows what that form does, and the checks judge it), or for an attribute
 * of an object (`cluster.talos_version`) a var file holding the whole object as the file has it with
 * that attribute changed. A var file is written to a private temporary folder, never into the user's
 * repository, and holds only that one variable.
 */
export async function talosVariable(access: ClusterAccess, version: string): Promise<string[]> {
  const { versions } = access.inventory;
  const path = await versionsFilePath(access);
  const variable = versions.variables.talos;
  if (!variable.includes('.')) {
    const written = await readFile(path, 'utf8')
      .then((text) => writtenTalosVersion(text, versions))
      .catch(() => undefined);
    return ['-var', `${variable}=${inWrittenForm(version, written)}`];
  }
  const why = (reason: string) =>
    nonRetryable(
      'ValidationFailed',
      `the Talos version a node is planned at cannot be given to Terraform: ${reason}. Fix versions.file or versions.variables.talos in the inventory (talos-upgrade doctor checks them).`,
    );
  const text = await readFile(path, 'utf8').catch((error: Error) => {
    throw why(`${path} cannot be read (${error.message})`);
  });
  let json: unknown;
  try {
    json = path.endsWith('.json') ? JSON.parse(text) : await parse(basename(path), text);
  } catch (error) {
    throw why(`${path} is not valid HCL (${(error as Error).message.split('\n')[0]})`);
  }
  const override = objectOverride(json, path, variable, version);
  if (typeof override === 'string') throw why(override);
  const file = join(
    await varFileFolder(),
    `${access.inventory.cluster.name}-${override.variable}-${version.replace(/[^\w.-]/g, '_')}.tfvars.json`,
  );
  // Written whole, then renamed: a Terraform run reading the file never sees half of it.
  const partial = `${file}.${randomUUID()}`;
  await writeFile(partial, JSON.stringify({ [override.variable]: override.value }), { mode: 0o600 });
  await rename(partial, file);
  return [`-var-file=${file}`];
}
