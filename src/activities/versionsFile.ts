import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { inWrittenForm, writtenTalosVersion } from '../domain/index.js';
import type { ClusterAccess } from './deps.js';
import { gitRoot } from './discovery/repository.js';

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
 * `-var <versions.variables.talos>=<version>` in the form the versions file writes it. An unreadable
 * file gives the bare version (the plan then shows what that form does, and the checks judge it).
 */
export async function talosVariable(access: ClusterAccess, version: string): Promise<string[]> {
  const { versions } = access.inventory;
  const written = await readFile(await versionsFilePath(access), 'utf8')
    .then((text) => writtenTalosVersion(text, versions))
    .catch(() => undefined);
  return ['-var', `${versions.variables.talos}=${inWrittenForm(version, written)}`];
}
