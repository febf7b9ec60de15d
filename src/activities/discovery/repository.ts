import { parse } from '@cdktf/hcl2json';
import { access, readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
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

/** owner/name of the work tree's GitHub remote `origin`, when it is on GitHub. */
export async function githubRepository(root: string): Promise<string | undefined> {
  const result = await runCommand('git', ['-C', root, 'remote', 'get-url', 'origin'], { input: '' }).catch(
    () => undefined,
  );
  const url = result?.exitCode === 0 ? result.stdout.trim() : '';
  return /github\.com[/:]([\w.-]+\/[\w.-]+?)(\.git)?$/.exec(url)?.[1];
}
