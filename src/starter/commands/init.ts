import { readFile, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { DiscoveryError, discoverCluster } from '../../activities/discovery/cluster.js';
import {
  defaultBranch,
  gitRoot,
  originOf,
  pathExists,
  readTerraformFiles,
  repositoryPatches,
  terraformShow,
  type RepositoryPatch,
} from '../../activities/discovery/repository.js';
import { withoutCredentials } from '../../activities/repositorySource.js';
import { draftInventory } from '../../domain/discovery/inventoryDraft.js';
import { stateResources } from '../../domain/discovery/terraformNodes.js';
import { formatInventoryIssues, parseInventory } from '../../domain/index.js';
import { EXIT, UserError } from '../cliErrors.js';

export interface InitOptions {
  talosconfig?: string;
  kubeconfig?: string;
  terraform?: string;
  name?: string;
  out: string;
  controlplaneConfig?: string;
  workerConfig?: string;
  backups?: string;
  /** owner/name on GitHub, for a repository whose origin is elsewhere (a mirror, a local path). */
  github?: string;
  force?: boolean;
}

/** A path as the user would type it from here. */
const shown = (path: string) =>
  relative(process.cwd(), path).startsWith('..') ? path : relative(process.cwd(), path);

/** The talosconfig's current context: the cluster's name when none is given. */
async function contextName(talosconfig: string): Promise<string | undefined> {
  let config: { context?: unknown } | null;
  try {
    config = parseYaml(await readFile(talosconfig, 'utf8')) as { context?: unknown } | null;
  } catch {
    // The parser's message quotes the file, which holds a client key: said without it.
    throw new UserError(
      `${talosconfig} is not a valid talosconfig (YAML): check the file, or pass --talosconfig`,
    );
  }
  return typeof config?.context === 'string' ? config.context : undefined;
}

/**
 * `talos-upgrade init`: reads the running cluster (its Nodes, each node's Talos API) and the Terraform
 * root (state and files), and writes the inventory that describes them. It changes nothing in the
 * cluster; it writes the inventory only when nothing is left to settle (and `terraform init` runs in a
 * root never initialised here).
 */
export async function initCommand(options: InitOptions): Promise<number> {
  if (options.github !== undefined && !/^[\w.-]+\/[\w.-]+$/.test(options.github))
    throw new UserError(`--github ${options.github}: give the repository as owner/name`);
  const talosconfig = resolve(
    options.talosconfig ?? process.env.TALOSCONFIG ?? join(homedir(), '.talos', 'config'),
  );
  const kubeconfig = resolve(
    options.kubeconfig ?? process.env.KUBECONFIG ?? join(homedir(), '.kube', 'config'),
  );
  const out = resolve(options.out);
  for (const [what, file] of [
    ['talosconfig', talosconfig],
    ['kubeconfig', kubeconfig],
  ] as const)
    if (!(await pathExists(file))) throw new UserError(`no ${what} at ${file}: pass --${what} <file>`);
  if ((await pathExists(out)) && !options.force)
    throw new UserError(`${out} exists: pass --force to replace it, or --out <another file>`);
  const name = options.name ?? (await contextName(talosconfig));
  if (!name) throw new UserError(`${talosconfig} has no current context: pass --name <cluster>`);
  const progress = (line: string) => console.error(`… ${line}`);
  const tools = {
    talosctl: process.env.TALOSCTL ?? 'talosctl',
    terraform: process.env.TERRAFORM ?? 'terraform',
  };

  const notes: string[] = [];
  try {
    // The user's repository: where Terraform lives, else where the inventory goes.
    const root = await gitRoot(options.terraform ? resolve(options.terraform) : dirname(out));
    let patches: RepositoryPatch[] = [];
    if (root) {
      progress(`looking for Talos config patches in ${root}`);
      patches = (await repositoryPatches(root)).map((patch) => ({
        ...patch,
        path: relative(dirname(out), patch.path),
      }));
    }
    const discovered = await discoverCluster({
      kubeconfig,
      talosconfig,
      talosctl: tools.talosctl,
      patches,
      progress,
    });
    let terraform: Parameters<typeof draftInventory>[0]['terraform'];
    const origin = root ? await originOf(root) : {};
    const repository = options.github ?? origin.github;
    if (!repository) {
      const why = !root
        ? 'no Git work tree holds the Terraform root or the inventory'
        : origin.url
          ? `origin (${withoutCredentials(origin.url)}) is not on GitHub`
          : 'the repository has no origin';
      notes.push(
        `${why}: no repository section is written, so neither the webhook nor polling can start a run from a merge; pass --github owner/name if the repository is on GitHub`,
      );
    } else if (
      options.github &&
      origin.github &&
      origin.github.toLowerCase() !== options.github.toLowerCase()
    )
      notes.push(`origin is github.com/${origin.github}; the inventory names ${options.github} (--github)`);
    // Only a written repository section holds the branch merges land on (and defaultBranch may ask origin).
    const branch = root && repository ? await defaultBranch(root) : undefined;
    if (options.terraform) {
      const dir = resolve(options.terraform);
      progress(`reading the Terraform state and files of ${dir}`);
      terraform = {
        directory: relative(dirname(out), dir) || '.',
        resources: stateResources(await terraformShow(tools.terraform, dir, progress)),
        files: await readTerraformFiles(root ?? dirname(out), dir),
      };
    }
    const draft = draftInventory({
      cluster: name,
      discovered,
      ...(terraform ? { terraform } : {}),
      machineConfigs: {
        ...(options.controlplaneConfig ? { controlplane: resolve(options.controlplaneConfig) } : {}),
        ...(options.workerConfig ? { worker: resolve(options.workerConfig) } : {}),
      },
      backups: options.backups ? resolve(options.backups) : `/var/lib/talos-upgrade/backups/${name}`,
      ...(repository ? { repository } : {}),
      ...(branch ? { defaultBranch: branch.branch } : {}),
    });
    if (branch?.from === 'checked-out')
      console.error(
        `⚠ origin's default branch is unknown (no origin/HEAD, origin not reachable): repository.defaultBranch is the branch checked out, ${branch.branch}; make it the branch merges land on`,
      );
    for (const note of [...notes, ...draft.notes]) console.error(`⚠ ${note}`);
    if (draft.problems.length) {
      console.error(`\n${out} not written: ${draft.problems.length} thing(s) to settle first:`);
      for (const problem of draft.problems) console.error(`  ❌ ${problem}`);
      return EXIT.invalidInput;
    }
    const parsed = parseInventory(draft.text);
    if (!parsed.ok) {
      console.error(`\n${out} not written: the inventory init drafted is not valid:`);
      console.error(formatInventoryIssues(out, parsed.issues));
      return EXIT.failure;
    }
    await writeFile(out, draft.text);
    const { nodes } = parsed.inventory;
    const controllers = nodes.filter((n) => n.role === 'controlplane').length;
    console.log(
      `✅ ${out}: cluster ${name}, ${controllers} controllers + ${nodes.length - controllers} workers.\n` +
        `Next: read it, then talos-upgrade validate ${shown(out)}.`,
    );
    return EXIT.ok;
  } catch (error) {
    if (error instanceof DiscoveryError) throw new UserError(error.message, EXIT.failure);
    throw error;
  }
}
