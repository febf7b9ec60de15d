import { parse } from '@cdktf/hcl2json';
import { access, readdir, readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { patchDocuments } from '../../domain/discovery/configPatches.js';
import type { ParsedHclFile } from '../../domain/discovery/versionLocations.js';
import { runCommand } from '../runCommand.js';
import { DiscoveryError } from './cluster.js';

/** Whether something is at `path` (discovery and the doctor only look; they never create). */
export const pathExists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

/**
 * The Terraform root's state as `terraform show -json` gives it, after `terraform init` when the root
 * was never initialised here. The document holds the state's sensitive values: it is read in memory
 * and never printed.
 */
export async function terraformShow(
  terraform: string,
  dir: string,
  progress?: (line: string) => void,
): Promise<unknown> {
  if (!(await pathExists(join(dir, '.terraform')))) {
    progress?.(`terraform init in ${dir} (it was never initialised here)`);
    const init = await runCommand(terraform, [`-chdir=${dir}`, 'init', '-input=false', '-no-color'], {
      timeoutMs: 600_000,
      input: '',
    });
    if (init.exitCode !== 0)
      throw new DiscoveryError(
        `terraform init in ${dir} failed: ${init.stderr.trim().split('\n').slice(-3).join(' ')}`,
      );
  }
  const show = await runCommand(terraform, [`-chdir=${dir}`, 'show', '-json', '-no-color'], {
    timeoutMs: 300_000,
    input: '',
  });
  if (show.exitCode !== 0)
    throw new DiscoveryError(
      `terraform show in ${dir} failed: ${show.stderr.trim().split('\n').slice(-3).join(' ')}. ` +
        'init reads the state the way your own terraform does: run it where `terraform plan` works.',
    );
  try {
    return JSON.parse(show.stdout) as unknown;
  } catch {
    // The parser's message would quote the state, sensitive values and all.
    throw new DiscoveryError(
      `terraform show -json in ${dir} did not print JSON: is TERRAFORM a wrapper that adds output?`,
    );
  }
}

/** The root's own .tf and .tfvars files (not its modules), parsed as HCL, named from the repository root. */
export async function readTerraformFiles(repoRoot: string, dir: string): Promise<ParsedHclFile[]> {
  const names = (await readdir(dir)).filter((name) => /\.(tf|tfvars)$/.test(name)).sort();
  const files: ParsedHclFile[] = [];
  for (const name of names) {
    const path = join(dir, name);
    try {
      const text = await readFile(path, 'utf8');
      files.push({ path: relative(repoRoot, path), text, json: await parse(name, text) });
    } catch (error) {
      throw new DiscoveryError(`${path} is not valid HCL: ${(error as Error).message}`);
    }
  }
  return files;
}

/** The Git work tree that holds `dir`, or undefined outside one. */
export async function gitRoot(dir: string): Promise<string | undefined> {
  const result = await runCommand('git', ['-C', dir, 'rev-parse', '--show-toplevel'], { input: '' }).catch(
    () => undefined,
  );
  return result?.exitCode === 0 ? result.stdout.trim() : undefined;
}

/**
 * owner/name in a GitHub URL (https, ssh or scp-like), or undefined for any other URL: the host must
 * be github.com itself (after an optional user@), not a host that merely ends in or contains it.
 */
const githubSlugOf = (url: string): string | undefined =>
  /^(?:[a-z+]+:\/\/)?(?:[^@/]+@)?github\.com(?::\d+\/|[/:])([\w.-]+\/[\w.-]+?)(?:\.git)?\/?$/i.exec(
    url.trim(),
  )?.[1];

/**
 * The work tree's `origin`: its URL as configured, and owner/name when that is on GitHub. The URL is
 * read as written and also as Git rewrites it (`url.<base>.insteadOf`): a clone whose GitHub URL is
 * rewritten to a mirror, or whose shorthand is rewritten to GitHub, is found either way.
 */
export async function originOf(root: string): Promise<{ url?: string; github?: string }> {
  const read = async (args: string[]) => {
    const result = await runCommand('git', ['-C', root, ...args], { input: '' }).catch(() => undefined);
    return result?.exitCode === 0 ? result.stdout.trim() : '';
  };
  const written = await read(['config', '--get', 'remote.origin.url']);
  if (!written) return {};
  const github = githubSlugOf(written) ?? githubSlugOf(await read(['remote', 'get-url', 'origin']));
  return { url: written, ...(github ? { github } : {}) };
}

/** Folders a patch never lives in: Git's, Terraform's caches, dependencies. */
const NOT_PATCHES = new Set(['.git', '.terraform', 'node_modules', '.tools']);
const MAX_PATCH_FILE_BYTES = 256 * 1024;
const MAX_YAML_FILES = 5000;

/** A Talos config patch found in the repository: where it is and its v1alpha1 documents. */
export interface RepositoryPatch {
  path: string;
  documents: Array<Record<string, unknown>>;
}

/**
 * The Talos config patches of the repository (YAML files whose documents set `machine` or `cluster`
 * and carry no secrets; see patchDocuments). Bounded: files over 256 KiB and past the first 5000
 * YAML files are not read, and a file that does not parse is skipped (a repository holds more than
 * patches).
 */
export async function repositoryPatches(root: string): Promise<RepositoryPatch[]> {
  const found: RepositoryPatch[] = [];
  const yamlFiles: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      if (yamlFiles.length >= MAX_YAML_FILES) return;
      if (entry.isDirectory() && !NOT_PATCHES.has(entry.name)) await walk(join(dir, entry.name));
      else if (entry.isFile() && /\.ya?ml$/.test(entry.name)) yamlFiles.push(join(dir, entry.name));
    }
  };
  await walk(root);
  for (const path of yamlFiles) {
    const size = (await stat(path).catch(() => undefined))?.size ?? Infinity;
    if (size > MAX_PATCH_FILE_BYTES) continue;
    try {
      const docs = parseAllDocuments(await readFile(path, 'utf8'));
      if (docs.some((doc) => doc.errors.length > 0)) continue;
      const documents = patchDocuments(docs.map((doc) => doc.toJS() as unknown));
      if (documents) found.push({ path, documents });
    } catch {
      continue;
    }
  }
  return found;
}

/**
 * The branch merges land on, and where it was read: origin's HEAD as the last fetch saw it (a clone
 * made with `git clone` has it); else asked of origin itself (`ls-remote --symref`, bounded: init may
 * run where origin cannot be reached); else the branch checked out, which may be a feature branch.
 */
export async function defaultBranch(
  root: string,
): Promise<{ branch: string; from: 'origin' | 'checked-out' } | undefined> {
  const git = async (args: string[], timeoutMs?: number) => {
    const result = await runCommand('git', ['-C', root, ...args], {
      input: '',
      // Never a prompt on the terminal (HTTPS credentials, an SSH passphrase or host key): init asks
      // origin only if it answers without one.
      env: { GIT_TERMINAL_PROMPT: '0', GIT_SSH_COMMAND: 'ssh -o BatchMode=yes' },
      ...(timeoutMs ? { timeoutMs } : {}),
    }).catch(() => undefined);
    return result?.exitCode === 0 ? result.stdout.trim() : undefined;
  };
  const remoteHead = await git(['symbolic-ref', '--short', 'refs/remotes/origin/HEAD']);
  if (remoteHead) return { branch: remoteHead.replace(/^origin\//, ''), from: 'origin' };
  const asked = await git(['ls-remote', '--symref', 'origin', 'HEAD'], 15_000);
  const symref = /^ref: refs\/heads\/(\S+)\s+HEAD$/m.exec(asked ?? '')?.[1];
  if (symref) return { branch: symref, from: 'origin' };
  const current = await git(['symbolic-ref', '--short', 'HEAD']);
  return current ? { branch: current, from: 'checked-out' } : undefined;
}
