import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Mutex, type MutexInterface } from 'async-mutex';
import { cancellationSignal, heartbeat } from './activityContext.js';
import type { ActivityDeps, ClusterHandle } from './deps.js';
import { nonRetryable, retryable, tail } from './errors.js';
import { runCommand, type CommandResult } from './runCommand.js';

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

/** A failed terraform run: a held state lock is retried by Temporal; anything else needs a person. */
function terraformFailure(what: string, result: CommandResult): never {
  const diagnostics = messages(result.stdout)
    .filter((m) => m.diagnostic?.severity === 'error')
    .map(
      (m) =>
        `${m.diagnostic?.summary ?? ''}${m.diagnostic?.detail ? `: ${m.diagnostic.detail.split('\n')[0]}` : ''}`,
    );
  const text = diagnostics.join('; ') || tail(result.stderr || result.stdout, 5);
  if (/state lock/i.test(text) || /Error acquiring the state lock/.test(result.stderr)) {
    throw retryable(
      'TerraformLocked',
      `${what}: the Terraform state is locked by another run (${text}); retrying`,
    );
  }
  throw nonRetryable('CommandFailed', `${what} failed: ${text}`);
}

/** Resolves when the signal aborts, with its reason as the rejection. */
function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    const fail = () => reject(signal.reason instanceof Error ? signal.reason : new Error('cancelled'));
    if (signal.aborted) fail();
    else signal.addEventListener('abort', fail, { once: true });
  });
}

/**
 * Runs that take a workspace's state lock go one at a time per workspace inside this worker, first
 * come first served. Left to themselves, parallel `terraform apply -target` runs (maxParallelWorkers
 * nodes at once) fight over the state lock, and Terraform's growing retry backoff lets a waiting run
 * sleep on long after the lock is free while others jump ahead: one node waited 47 s in the lab for
 * runs of 2 s. Between worker processes, `-lock-timeout` still keeps them apart.
 */
function workspaceQueue() {
  const mutexes = new Map<string, Mutex>();
  return async <T>(dir: string, what: string, run: () => Promise<T>): Promise<T> => {
    const mutex = mutexes.get(dir) ?? new Mutex();
    mutexes.set(dir, mutex);
    const waiting = setInterval(
      () => heartbeat({ step: what, waiting: 'for an earlier Terraform run of this workspace' }),
      5000,
    );
    const signal = cancellationSignal();
    const acquiring = mutex.acquire();
    let release: MutexInterface.Releaser;
    try {
      release = await (signal ? Promise.race([acquiring, aborted(signal)]) : acquiring);
    } catch (error) {
      // Cancelled while queued: give the turn back as soon as it comes.
      void acquiring.then((r) => r());
      throw error;
    } finally {
      clearInterval(waiting);
    }
    try {
      return await run();
    } finally {
      release();
    }
  };
}

export function terraformActivities(deps: ActivityDeps, cluster: (name: string) => ClusterHandle) {
  const inTurn = workspaceQueue();

  function workspace(c: ClusterHandle): { dir: string; lockTimeout: string } {
    if (!c.inventory.terraform)
      throw nonRetryable(
        'ValidationFailed',
        `cluster ${c.name} has no terraform section: its VMs cannot be recreated`,
      );
    return {
      dir: c.resolvePath(c.inventory.terraform.directory),
      lockTimeout: `${Math.round(c.inventory.terraform.lockTimeout / 1000)}s`,
    };
  }

  async function terraform(c: ClusterHandle, args: string[], what: string): Promise<CommandResult> {
    const { dir } = workspace(c);
    // Only runs that plan and apply take the state lock; reads (state list, state pull) go at once.
    const locking = args[0] === 'apply' || args[0] === 'destroy';
    const go = () =>
      runCommand(deps.terraform, args, {
        cwd: dir,
        env: { TF_IN_AUTOMATION: '1', TF_INPUT: '0' },
        timeoutMs: 3_600_000,
        // Interrupted like Ctrl-C: terraform stops its operation, writes the state and unlocks it.
        onCancel: 'graceful',
        progress: (line) => ({ step: what, terraform: lastMessage(line) }),
      });
    const result = locking ? await inTurn(dir, what, go) : await go();
    if (result.exitCode !== 0) terraformFailure(what, result);
    return result;
  }

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
    const result = await terraform(c, ['state', 'pull'], `terraform state pull for ${c.name}`);
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

  /** `terraform destroy -target` of one node's VM; harmless when it is already gone. */
  async function destroyNodeVm(input: { cluster: string; node: string }): Promise<{ destroyed: boolean }> {
    const c = cluster(input.cluster);
    const address = nodeAddress(c, input.node);
    if (!(await inState(c, address))) return { destroyed: false };
    heartbeat({ node: input.node, step: 'terraform destroy', address });
    await terraform(
      c,
      [
        'destroy',
        '-auto-approve',
        '-input=false',
        '-json',
        `-lock-timeout=${workspace(c).lockTimeout}`,
        `-target=${address}`,
      ],
      `terraform destroy ${address}`,
    );
    return { destroyed: true };
  }

  /** `terraform apply -target` of one node's VM at a Talos version (the old one, for a rollback). */
  async function createNodeVm(input: {
    cluster: string;
    node: string;
    version: string;
  }): Promise<{ address: string }> {
    const c = cluster(input.cluster);
    const address = nodeAddress(c, input.node);
    heartbeat({ node: input.node, step: 'terraform apply', address, version: input.version });
    await terraform(
      c,
      [
        'apply',
        '-auto-approve',
        '-input=false',
        '-json',
        `-lock-timeout=${workspace(c).lockTimeout}`,
        `-target=${address}`,
        '-var',
        `talos_version=${input.version}`,
      ],
      `terraform apply ${address} at Talos ${input.version}`,
    );
    return { address };
  }

  /** Rebuilds the VM templates (`terraform apply -target` of each) for a Talos version. */
  async function rebuildTemplates(input: {
    cluster: string;
    version: string;
  }): Promise<{ templates: string[] }> {
    const c = cluster(input.cluster);
    const templates = c.inventory.terraform?.templates ?? [];
    if (templates.length === 0) return { templates: [] };
    await terraform(
      c,
      [
        'apply',
        '-auto-approve',
        '-input=false',
        '-json',
        `-lock-timeout=${workspace(c).lockTimeout}`,
        ...templates.map((t) => `-target=${t.address}`),
        '-var',
        `talos_version=${input.version}`,
      ],
      `rebuilding ${templates.length} templates at Talos ${input.version}`,
    );
    return { templates: templates.map((t) => t.name) };
  }

  return { terraformInit, backupTerraformState, destroyNodeVm, createNodeVm, rebuildTemplates };
}
