import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { heartbeat, sleep } from './activityContext.js';
import type { ActivityDeps, ClusterHandle } from './deps.js';
import { nonRetryable, retryable, tail } from './errors.js';
import { runCommand, type CommandResult } from './runCommand.js';
import { WorkspaceQueue, type SharedControl, type SharedResult } from './workspaceQueue.js';

interface TerraformMessage {
  '@level'?: string;
  '@message'?: string;
  type?: string;
  diagnostic?: { severity?: string; summary?: string; detail?: string };
}

function messages(stdout: string): TerraformMessage[] {
  return stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => {
      try {
        return JSON.parse(line) as TerraformMessage;
      } catch {
        return {};
      }
    });
}

function lastMessage(line: string): string {
  try {
    return (JSON.parse(line) as TerraformMessage)['@message'] ?? line;
  } catch {
    return line;
  }
}

/** What a failed run said: its error diagnostics (`-json`), else the tail of its output. */
function diagnosticsOf(result: CommandResult): string {
  const diagnostics = messages(result.stdout)
    .filter((m) => m.diagnostic?.severity === 'error')
    .map(
      (m) =>
        `${m.diagnostic?.summary ?? ''}${m.diagnostic?.detail ? `: ${m.diagnostic.detail.split('\n')[0]}` : ''}`,
    );
  return diagnostics.join('; ') || tail(result.stderr || result.stdout, 5);
}

/** A held state lock: Temporal retries the activity, and a shared run's members do not rerun alone. */
function lockHeld(result: CommandResult): boolean {
  return /state lock/i.test(diagnosticsOf(result)) || /Error acquiring the state lock/.test(result.stderr);
}

/** How many reads in all a read that finds a half-written state file gets, and how far apart. */
const HALF_WRITTEN_READS = 5;
const HALF_WRITTEN_PAUSE_MS = 1000;

/**
 * A read that failed on a state file cut short or empty: another run of this workspace is rewriting it
 * in place (Terraform's local backend truncates the file, then writes it). Cut short, a read fails on its
 * format; empty, `state list` says "No state file was found!". (`state pull` of an empty file succeeds
 * with no output: its caller says so with `whole`.)
 */
function halfWrittenState(result: CommandResult): boolean {
  return (
    result.exitCode !== 0 &&
    /Unsupported state file format|No state file was found/.test(`${result.stderr}\n${result.stdout}`)
  );
}

/** A failed terraform run: a held state lock is retried by Temporal; anything else needs a person. */
function terraformFailure(what: string, result: CommandResult): never {
  const text = diagnosticsOf(result);
  if (lockHeld(result)) {
    throw retryable(
      'TerraformLocked',
      `${what}: the Terraform state is locked by another run (${text}); retrying`,
    );
  }
  throw nonRetryable('CommandFailed', `${what} failed: ${text}`);
}

/** One locking run of a node's VM: runs of the same batchKey waiting together go as one run. */
interface LockedRun {
  what: string;
  args: (targets: string[]) => string[];
  batchKey?: string;
  target?: string;
  node?: string;
  followedUp?: boolean;
}

/** The cluster's Terraform section; a cluster without one cannot recreate its VMs. */
function terraformOf(c: ClusterHandle): NonNullable<ClusterHandle['inventory']['terraform']> {
  if (!c.inventory.terraform)
    throw nonRetryable(
      'ValidationFailed',
      `cluster ${c.name} has no terraform section: its VMs cannot be recreated`,
    );
  return c.inventory.terraform;
}

/** The cluster's Terraform workspace directory. */
function workspaceDir(c: ClusterHandle): string {
  return c.resolvePath(terraformOf(c).directory);
}

/** The state-lock queue of a cluster's Terraform workspace (one per directory, shared by clusters). */
export type WorkspaceQueueOf = (c: ClusterHandle) => WorkspaceQueue;

/**
 * This worker's state-lock queues, one per Terraform workspace directory. The Terraform activities
 * take their turns there; a cattle node's drain reports its progress there, so a create can wait a
 * moment for the destroy that follows it (WorkspaceQueue.drainOf).
 */
export function workspaceQueues(deps: ActivityDeps): WorkspaceQueueOf {
  const queues = new Map<string, WorkspaceQueue>();
  return (c) => {
    const dir = workspaceDir(c);
    const queue =
      queues.get(dir) ?? new WorkspaceQueue((result) => !lockHeld(result), deps.terraformFollowUpMs);
    queues.set(dir, queue);
    return queue;
  };
}

export function terraformActivities(
  deps: ActivityDeps,
  cluster: (name: string) => ClusterHandle,
  queueOf: WorkspaceQueueOf,
) {
  function run(c: ClusterHandle, args: string[], what: string, shared?: SharedControl) {
    return runCommand(deps.terraform, args, {
      cwd: workspaceDir(c),
      env: { TF_IN_AUTOMATION: '1', TF_INPUT: '0' },
      timeoutMs: 3_600_000,
      // Interrupted like Ctrl-C: terraform stops its operation, writes the state and unlocks it.
      onCancel: 'graceful',
      progress: (line) => ({ step: what, terraform: lastMessage(line) }),
      shared,
    });
  }

  /**
   * Runs that only read (init, state list, state pull) go at once, without the lock. The local backend
   * rewrites its state file in place, so a read while another lane's apply writes it can find half a
   * file ("Unsupported state file format"; the fault matrix's cancel test hit it): read again shortly.
   * `whole` says whether a read that succeeded saw the whole state; it is read again if not.
   */
  async function terraform(
    c: ClusterHandle,
    args: string[],
    what: string,
    whole: (result: CommandResult) => boolean = () => true,
  ): Promise<CommandResult> {
    const halfWritten = (result: CommandResult) =>
      halfWrittenState(result) || (result.exitCode === 0 && !whole(result));
    let result = await run(c, args, what);
    for (let read = 1; read < HALF_WRITTEN_READS && halfWritten(result); read++) {
      await sleep(HALF_WRITTEN_PAUSE_MS);
      result = await run(c, args, what);
    }
    if (result.exitCode !== 0) terraformFailure(what, result);
    return result;
  }

  /** Runs that plan and apply take the state lock: one at a time per workspace, in its queue. */
  async function locked(c: ClusterHandle, turn: LockedRun): Promise<SharedResult> {
    const result = await queueOf(c).submit({
      ...turn,
      command: (targets, shared) => run(c, turn.args(targets), turn.what, shared),
    });
    if (result.exitCode !== 0) terraformFailure(turn.what, result);
    return result;
  }

  /** The start of every run that takes the state lock: unattended, JSON output, the inventory's lock timeout. */
  const locking = (c: ClusterHandle, command: 'apply' | 'destroy') => [
    command,
    '-auto-approve',
    '-input=false',
    '-json',
    `-lock-timeout=${Math.round(terraformOf(c).lockTimeout / 1000)}s`,
  ];
  const targeting = (targets: string[]) => targets.map((t) => `-target=${t}`);

  async function terraformInit(input: { cluster: string }): Promise<void> {
    const c = cluster(input.cluster);
    await terraform(c, ['init', '-input=false', '-no-color'], `terraform init for ${c.name}`);
  }

  /** Whether any resource of the address is in the state (`state list <addr>` errors for a missing module). */
  async function inState(c: ClusterHandle, address: string): Promise<boolean> {
    const result = await terraform(c, ['state', 'list'], `terraform state list for ${c.name}`);
    return result.stdout.split('\n').some((line) => line === address || line.startsWith(`${address}.`));
  }

  /** `terraform state pull` into a timestamped file before anything is destroyed; keeps the newest N. */
  async function backupTerraformState(input: { cluster: string }): Promise<{ path: string; kept: number }> {
    const c = cluster(input.cluster);
    const pulled = (result: CommandResult) => result.stdout.trim() !== '';
    const result = await terraform(c, ['state', 'pull'], `terraform state pull for ${c.name}`, pulled);
    // An empty backup would be kept in place of a real one, and nothing should be destroyed without one.
    if (!pulled(result))
      throw nonRetryable(
        'CommandFailed',
        `terraform state pull for ${c.name} gave no state in ${workspaceDir(c)} (read ${HALF_WRITTEN_READS} times): nothing to back up, so no VM is destroyed`,
      );
    const dir = join(c.resolvePath(c.inventory.backups.directory), 'terraform-state');
    await mkdir(dir, { recursive: true });
    const path = join(dir, `${c.name}-${new Date().toISOString().replace(/[:.]/g, '-')}.tfstate`);
    await writeFile(path, result.stdout, { mode: 0o600 });
    const backups = (await readdir(dir))
      .filter((f) => f.startsWith(`${c.name}-`) && f.endsWith('.tfstate'))
      .sort();
    const keep = c.inventory.backups.keepTerraformStates;
    for (const old of backups.slice(0, Math.max(0, backups.length - keep))) await rm(join(dir, old));
    return { path, kept: Math.min(backups.length, keep) };
  }

  function nodeAddress(c: ClusterHandle, name: string): string {
    const node = c.node(name);
    if (!node.terraformAddress)
      throw nonRetryable('ValidationFailed', `${name} has no terraformAddress in the inventory of ${c.name}`);
    return node.terraformAddress;
  }

  /**
   * `terraform destroy -target` of one node's VM; harmless when it is already gone. Nodes waiting
   * together are destroyed in one run (`together` names the others).
   */
  async function destroyNodeVm(input: {
    cluster: string;
    node: string;
  }): Promise<{ destroyed: boolean; together?: string[] }> {
    const c = cluster(input.cluster);
    const address = nodeAddress(c, input.node);
    // Said before the state check (a Terraform call outside the queue), so a create arriving meanwhile
    // waits for this destroy and clones this node's VM with its own.
    const noDestroyAfterAll = queueOf(c).destroyComing(input.node);
    const present = await inState(c, address).catch((error: unknown) => {
      noDestroyAfterAll();
      throw error;
    });
    if (!present) {
      noDestroyAfterAll();
      return { destroyed: false };
    }
    heartbeat({ node: input.node, step: 'terraform destroy', address });
    const { together } = await locked(c, {
      what: `terraform destroy ${address}`,
      args: (targets) => [...locking(c, 'destroy'), ...targeting(targets)],
      batchKey: 'destroy',
      target: address,
      node: input.node,
      followedUp: true,
    });
    return { destroyed: true, ...(together.length ? { together } : {}) };
  }

  /**
   * `terraform apply -target` of one node's VM at a Talos version (the old one, for a rollback). Nodes
   * waiting together for the same version are cloned in one run (`together` names the others).
   */
  async function createNodeVm(input: {
    cluster: string;
    node: string;
    version: string;
  }): Promise<{ address: string; together?: string[] }> {
    const c = cluster(input.cluster);
    const address = nodeAddress(c, input.node);
    heartbeat({ node: input.node, step: 'terraform apply', address, version: input.version });
    const { together } = await locked(c, {
      what: `terraform apply ${address} at Talos ${input.version}`,
      args: (targets) => [
        ...locking(c, 'apply'),
        ...targeting(targets),
        '-var',
        `talos_version=${input.version}`,
      ],
      batchKey: `apply at ${input.version}`,
      target: address,
      node: input.node,
    });
    return { address, ...(together.length ? { together } : {}) };
  }

  /** Rebuilds the VM templates (`terraform apply -target` of each) for a Talos version. */
  async function rebuildTemplates(input: {
    cluster: string;
    version: string;
  }): Promise<{ templates: string[] }> {
    const c = cluster(input.cluster);
    const templates = c.inventory.terraform?.templates ?? [];
    if (templates.length === 0) return { templates: [] };
    await locked(c, {
      what: `rebuilding ${templates.length} templates at Talos ${input.version}`,
      args: () => [
        ...locking(c, 'apply'),
        ...targeting(templates.map((t) => t.address)),
        '-var',
        `talos_version=${input.version}`,
      ],
    });
    return { templates: templates.map((t) => t.name) };
  }

  return { terraformInit, backupTerraformState, destroyNodeVm, createNodeVm, rebuildTemplates };
}
