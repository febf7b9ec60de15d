import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CONFIG_APPLY_TYPE,
  configAppliesDestroyed,
  destroyedBesidesConfig,
  bootImagesOf,
  downloadsOf,
  rebuildImageProblem,
  redactedUrl,
  schematicOf,
  FIXED_IN_TERRAFORM,
  configuredByTerraform,
  describePlan,
  FAILURE,
  nodeAddresses,
  plannedChanges,
  planRefusal,
  summarisePlan,
  underAddress,
  type PlannedChange,
  type PlanScope,
} from '../domain/index.js';
import { appliedConfigProblem } from './appliedConfigProof.js';
import { currentActivity, heartbeat, sleep } from './activityContext.js';
import { reportedBootId } from './kubernetes.js';
import type { ActivityDeps, ClusterHandle } from './deps.js';
import { nonRetryable, retryable, tail } from './errors.js';
import { runCommand, type CommandResult } from './runCommand.js';
import { talosVariable } from './versionsFile.js';
import {
  bringCloneTo,
  CloneFetchError,
  CloneRefusal,
  describeClone,
  needsInit,
  type CloneState,
} from './workTree.js';
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
    return (JSON.parse(line) as TerraformMessage)['@message'] ?? '';
  } catch {
    return line;
  }
}

/**
 * Commands whose output is data, not messages: `show -json` prints the plan with every sensitive
 * value in plain text (a machine config given to a config apply, a client key), `state pull` the
 * state. Nothing of what they print may reach a heartbeat or a failure's message.
 */
const printsData = (args: string[]) => args[0] === 'show' || (args[0] === 'state' && args[1] === 'pull');

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
  // Another run changed the state between this saved plan and its apply: planning again is the fix.
  if (/Saved plan is stale/i.test(`${result.stderr}\n${result.stdout}`))
    throw retryable(
      'TerraformLocked',
      `${what}: the state changed after the plan was saved (${text}); planning again`,
    );
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
  batchKey?: string;
  targets?: string[];
  node?: string;
  followedUp?: boolean;
}

/** A saved plan's run: the apply's result, or why its plan was refused (nothing was applied then). */
type PlanRun = CommandResult & { refused?: string; planned?: string; changes?: PlannedChange[] };

/** Where a saved plan lives while it is read back and applied: a private folder, removed after. */
async function withPlanFile<T>(use: (file: string) => Promise<T>): Promise<T> {
  // mkdtemp makes the folder 0700: a plan holds the variables' values, and may hold secrets.
  const dir = await mkdtemp(join(tmpdir(), 'talos-upgrade-plan-'));
  try {
    return await use(join(dir, 'rebuild.tfplan'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
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
  async function run(c: ClusterHandle, args: string[], what: string, shared?: SharedControl) {
    const data = printsData(args);
    const result = await runCommand(deps.terraform, args, {
      cwd: workspaceDir(c),
      env: { TF_IN_AUTOMATION: '1', TF_INPUT: '0' },
      timeoutMs: 3_600_000,
      // Interrupted like Ctrl-C: terraform stops its operation, writes the state and unlocks it.
      onCancel: 'graceful',
      progress: (line) => (data ? { step: what } : { step: what, terraform: lastMessage(line) }),
      shared,
    });
    // A failed data command explains itself on stderr; what it printed stays out of every message.
    return data && result.exitCode !== 0 ? { ...result, stdout: '' } : result;
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
  async function locked(c: ClusterHandle, turn: LockedRun & { command: SavedRun }): Promise<SharedResult> {
    const result: SharedResult & PlanRun = await queueOf(c).submit(turn);
    if (result.refused)
      throw nonRetryable(
        FAILURE.TerraformPlanRefused,
        `${turn.what}: the saved plan was refused, nothing was applied: ${result.refused}`,
      );
    if (result.exitCode !== 0) terraformFailure(turn.what, result);
    return result;
  }

  const lockTimeout = (c: ClusterHandle) => `-lock-timeout=${Math.round(terraformOf(c).lockTimeout / 1000)}s`;
  const targeting = (targets: string[]) => targets.map((t) => `-target=${t}`);
  /**
   * The inventory's -var-files, then its version variable at `version` (in the form the versions file
   * writes): Terraform takes -var and -var-file in order and the last one wins, so the version must come
   * after a var file that sets it too.
   */
  const variables = async (c: ClusterHandle, version?: string) => [
    ...terraformOf(c).varFiles.map((f) => `-var-file=${f}`),
    ...(version ? await talosVariable(c, version) : []),
  ];

  /**
   * What an image URL answers: HEAD, else (a server that does not serve HEAD) a GET whose body is not
   * read. A connection that fails is retried by the activity; a status is the answer.
   */
  async function imageStatus(url: string, shown: string): Promise<number> {
    // fetch refuses a URL with credentials in it: they go as Basic authentication, as a downloader sends them.
    const parsed = new URL(url);
    const user = decodeURIComponent(parsed.username);
    const secret = decodeURIComponent(parsed.password);
    const headers: Record<string, string> = user
      ? { Authorization: `Basic ${Buffer.from(`${user}:${secret}`).toString('base64')}` }
      : {};
    parsed.username = '';
    parsed.password = '';
    const ask = (method: string) => fetch(parsed, { method, headers, signal: AbortSignal.timeout(120_000) });
    try {
      let answer = await ask('HEAD');
      if (answer.status === 405 || answer.status === 501) answer = await ask('GET');
      await answer.body?.cancel();
      return answer.status;
    } catch (error) {
      // The error may quote the URL: only the shown form travels.
      const why = error instanceof Error && error.name === 'TimeoutError' ? 'timed out' : 'failed';
      throw retryable('SourceUnavailable', `${shown} did not answer (${why})`);
    }
  }

  /** Every other node's addresses, by name: what a node's plan must not touch. */
  function othersOf(c: ClusterHandle, own: string[]): Record<string, string[]> {
    return Object.fromEntries(
      c.inventory.nodes
        .map((n) => [n.name, nodeAddresses(n)] as const)
        .filter(([, addresses]) => addresses.length > 0 && !addresses.some((a) => own.includes(a))),
    );
  }

  type SavedRun = (targets: string[], shared?: SharedControl) => Promise<PlanRun>;

  /**
   * A saved plan, read back and checked, then applied as saved: `terraform plan -out`, `terraform show
   * -json` of that file, planRefusal on what it would do, `terraform apply <file>`. Between the plan and
   * the apply the workspace's queue holds the turn, and Terraform itself refuses a plan whose state
   * changed meanwhile. `proof` plans without the lock and without a refresh, and never applies.
   */
  function savedPlan(
    c: ClusterHandle,
    kind: PlanScope['kind'],
    version: string | undefined,
    mode: 'apply' | 'proof',
    others: (targets: string[]) => Record<string, string[]> = (targets) => othersOf(c, targets),
  ): SavedRun {
    return (targets, shared) =>
      withPlanFile(async (file) => {
        const what = `terraform plan${kind === 'destroy' ? ' -destroy' : ''} ${targets.join(' ')}`;
        const planned = await run(
          c,
          [
            'plan',
            '-input=false',
            '-json',
            ...(mode === 'proof' ? ['-lock=false', '-refresh=false'] : [lockTimeout(c)]),
            ...(kind === 'destroy' ? ['-destroy'] : []),
            ...targeting(targets),
            ...(await variables(c, version)),
            `-out=${file}`,
          ],
          what,
          shared,
        );
        if (planned.exitCode !== 0) return planned;
        const shown = await run(c, ['show', '-json', '-no-color', file], `terraform show ${what}`, shared);
        if (shown.exitCode !== 0) return shown;
        const changes = plannedChanges(shown.stdout);
        const summary = describePlan(summarisePlan(changes));
        const refused = planRefusal(changes, { kind, own: targets, others: others(targets) });
        if (refused) return { ...planned, exitCode: 1, refused: `${refused} (the plan: ${summary})` };
        const nothing = !changes.some((p) => p.actions.some((a) => a !== 'no-op' && a !== 'read'));
        if (mode === 'proof' || nothing) return { ...planned, planned: summary, changes };
        // A shared run beats for all its members; a lone one (no queue turn) for its own activity.
        (shared?.heartbeat ?? heartbeat)({ step: `terraform apply of the saved plan: ${summary}` });
        const applied = await run(
          c,
          ['apply', '-input=false', '-json', lockTimeout(c), file],
          `terraform apply ${targets.join(' ')}`,
          shared,
        );
        return { ...applied, planned: summary };
      });
  }

  async function terraformInit(input: { cluster: string }): Promise<void> {
    const c = cluster(input.cluster);
    await terraform(c, ['init', '-input=false', '-no-color'], `terraform init for ${c.name}`);
  }

  /**
   * The worker's clone of the repository brought to the merge a run acts on, before any Terraform run
   * (a fast-forward, origin fetched when needed), and `terraform init` when the merge changed the root's
   * .tf files or its lock file. A dry run says where the clone stands and changes nothing.
   */
  async function syncTerraformRoot(input: {
    cluster: string;
    commit: string;
    dryRun?: boolean;
  }): Promise<{ summary: string; moved: boolean }> {
    const c = cluster(input.cluster);
    if (!c.inventory.terraform)
      return { summary: 'no Terraform root: nothing to bring to the merge', moved: false };
    const dir = workspaceDir(c);
    const what = `bringing the clone of ${dir} to ${input.commit.slice(0, 12)}`;
    heartbeat({ step: what });
    const bring = async (control?: SharedControl): Promise<CloneState> => {
      try {
        return await bringCloneTo(dir, input.commit, input.dryRun === true, control);
      } catch (error) {
        if (error instanceof CloneRefusal)
          throw nonRetryable(FAILURE.ValidationFailed, `${c.name}: ${error.message}`);
        if (error instanceof CloneFetchError) throw retryable('SourceUnavailable', error.message);
        throw error;
      }
    };
    // A dry run only reads the clone. A move takes the workspace's turn, as a plan or an apply does: a
    // root two clusters share never moves during the other's plan or apply (it may between two of its
    // commands, and under its reads and proofs, which take no turn).
    if (input.dryRun) {
      const state = await bring();
      return { summary: describeClone(state, false), moved: false };
    }
    // Read here: the turn may run from another activity's async context (WorkspaceQueue.go).
    const attempt = currentActivity()?.info.attempt ?? 1;
    let outcome = { summary: '', moved: false };
    await queueOf(c).submit({
      what,
      command: async (_targets, control) => {
        const started = Date.now();
        const state = await bring(control);
        // A retry may follow a move whose init failed or whose worker died: init again then, to be sure.
        const init =
          (state.state === 'moved' && needsInit(state)) || (attempt > 1 && state.state !== 'not-git');
        if (init) {
          const initWhat = `terraform init for ${c.name}`;
          const result = await run(c, ['init', '-input=false', '-no-color'], initWhat, control);
          if (result.exitCode !== 0) terraformFailure(initWhat, result);
        }
        outcome = { summary: describeClone(state, init), moved: state.state === 'moved' };
        return { exitCode: 0, stdout: '', stderr: '', durationMs: Date.now() - started, timedOut: false };
      },
    });
    return outcome;
  }

  /** Whether any resource of the addresses is in the state (`state list <addr>` errors for a missing module). */
  async function inState(c: ClusterHandle, addresses: string[]): Promise<boolean> {
    const result = await terraform(c, ['state', 'list'], `terraform state list for ${c.name}`);
    return result.stdout
      .split('\n')
      .some((line) =>
        addresses.some((a) => line === a || line.startsWith(`${a}.`) || line.startsWith(`${a}[`)),
      );
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
    // Lanes back up together (maxParallelWorkers): another call may have removed the same old file.
    for (const old of backups.slice(0, Math.max(0, backups.length - keep)))
      await rm(join(dir, old), { force: true });
    return { path, kept: Math.min(backups.length, keep) };
  }

  function addressesOf(c: ClusterHandle, name: string): string[] {
    const addresses = nodeAddresses(c.node(name));
    if (addresses.length === 0)
      throw nonRetryable('ValidationFailed', `${name} has no terraformAddress in the inventory of ${c.name}`);
    return addresses;
  }

  /**
   * One node's VM destroyed by a saved `plan -destroy -target` of its addresses, read back and applied
   * only when it destroys nothing but that node; harmless when it is already gone. Nodes waiting
   * together are destroyed in one run (`together` names the others).
   */
  async function destroyNodeVm(input: {
    cluster: string;
    node: string;
  }): Promise<{ destroyed: boolean; together?: string[]; bootId?: string }> {
    const c = cluster(input.cluster);
    const addresses = addressesOf(c, input.node);
    // Said before the state check (a Terraform call outside the queue), so a create arriving meanwhile
    // waits for this destroy and clones this node's VM with its own.
    const noDestroyAfterAll = queueOf(c).destroyComing(input.node);
    // The boot the VM's Node reports, for the wait for the next VM's (a retry after the destroy reads
    // the same: the Node outlives its VM). Best effort: without it the wait goes by the version alone,
    // and a destroy must not wait for the Kubernetes API (an undo may be why it is down).
    const bootId = await reportedBootId(c, input.node).catch(() => undefined);
    const booted = bootId ? { bootId } : {};
    const present = await inState(c, addresses).catch((error: unknown) => {
      noDestroyAfterAll();
      throw error;
    });
    if (!present) {
      noDestroyAfterAll();
      return { destroyed: false, ...booted };
    }
    heartbeat({ node: input.node, step: 'terraform destroy', addresses });
    const { together } = await locked(c, {
      what: `terraform destroy ${addresses.join(' ')}`,
      command: savedPlan(c, 'destroy', undefined, 'apply'),
      // Per cluster: a shared run plans with its first member's cluster (its var files).
      batchKey: `destroy ${c.name}`,
      targets: addresses,
      node: input.node,
      followedUp: true,
    });
    return { destroyed: true, ...(together.length ? { together } : {}), ...booted };
  }

  /**
   * One node's VM created at a Talos version (the old one, for a rollback) by a saved `plan -target`
   * of its addresses with the inventory's version variable, read back and applied only when it creates
   * nothing but that node (and new resources it needs). Nodes waiting together for the same version
   * are cloned in one run (`together` names the others).
   */
  async function createNodeVm(input: {
    cluster: string;
    node: string;
    version: string;
  }): Promise<{ addresses: string[]; planned?: string; together?: string[] }> {
    const c = cluster(input.cluster);
    const addresses = addressesOf(c, input.node);
    heartbeat({ node: input.node, step: 'terraform apply', addresses, version: input.version });
    const result = await locked(c, {
      what: `terraform apply ${addresses.join(' ')} at Talos ${input.version}`,
      command: savedPlan(c, 'create', input.version, 'apply'),
      // Per cluster: a shared run plans with its first member's variable name and var files.
      batchKey: `apply at ${input.version} ${c.name}`,
      targets: addresses,
      node: input.node,
    });
    const { planned } = result as PlanRun;
    return {
      addresses,
      ...(planned ? { planned } : {}),
      ...(result.together.length ? { together: result.together } : {}),
    };
  }

  /** Rebuilds the VM templates (a saved plan of each, checked, applied) for a Talos version. */
  async function rebuildTemplates(input: {
    cluster: string;
    version: string;
  }): Promise<{ templates: string[] }> {
    const c = cluster(input.cluster);
    const templates = c.inventory.terraform?.templates ?? [];
    if (templates.length === 0) return { templates: [] };
    await locked(c, {
      what: `rebuilding ${templates.length} templates at Talos ${input.version}`,
      command: savedPlan(c, 'create', input.version, 'apply'),
      targets: templates.map((t) => t.address),
    });
    return { templates: templates.map((t) => t.name) };
  }

  /**
   * What the node's config applies will send its new VM, proven as a config file is (valid, its VLANs
   * defined): read from the create plan, so exactly what the apply would send. The proof says which it
   * read; a config the plan knows only at apply cannot be read before: said too, left to the checks
   * after the boot.
   */
  async function proveAppliedConfigs(
    c: ClusterHandle,
    node: string,
    addresses: string[],
    created: PlannedChange[],
    version: string,
  ): Promise<string> {
    if (!configuredByTerraform(c.inventory, c.node(node))) return '';
    const unread: string[] = [];
    const proven: string[] = [];
    for (const { address, appliedConfig } of created) {
      if (!appliedConfig || !addresses.some((own) => underAddress(address, own))) continue;
      if (appliedConfig.unknown || appliedConfig.input === undefined) {
        unread.push(address);
        continue;
      }
      heartbeat({ step: `validating the machine config ${address} would send` });
      const own = c.node(node);
      const problem = await appliedConfigProblem(
        deps,
        c.inventory,
        own,
        address,
        { input: appliedConfig.input, patches: appliedConfig.patches },
        [...c.inventory.policy.globalPatches, ...(own.gpu?.patches ?? [])].map((file) => c.resolvePath(file)),
        version,
      );
      proven.push(address);
      if (problem) throw nonRetryable(FAILURE.TerraformPlanRefused, problem);
    }
    return [
      proven.length ? `; the machine config ${proven.join(', ')} would send proven` : '',
      unread.length ? `; the machine config of ${unread.join(', ')} is known only at apply, not checked` : '',
    ].join('');
  }

  /**
   * Pre-flight, before any node moves: each node's rebuild proven from saved plans, without the lock
   * and without a refresh (nothing is applied): its destroy removes only what lies under its addresses
   * (and something does: the node is in the state), and its create at `version` creates only that.
   * Refused with what the plan would do; a summary of each node's plans otherwise. Terraform orders a
   * destroy by the dependencies its state recorded at the last apply: a configuration changed since
   * then (a new depends_on) is seen by the node's own saved plan instead, refused before it applies.
   */
  async function proveNodeRebuilds(input: {
    cluster: string;
    version: string;
    nodes: string[];
    /** The oldest Talos a rebuild or its undo boots, which must read the configs applies send (else `version`). */
    configsReadBy?: string;
  }): Promise<{ nodes: Array<{ node: string; destroy: string; create: string }> }> {
    const c = cluster(input.cluster);
    const proven: Array<{ node: string; destroy: string; create: string }> = [];
    const answered = new Set<string>();
    for (const [index, node] of input.nodes.entries()) {
      const addresses = addressesOf(c, node);
      heartbeat({ step: `proving the rebuild of ${node} (${index + 1}/${input.nodes.length})` });
      const plans: PlanRun[] = [];
      for (const kind of ['destroy', 'create'] as const) {
        const result = await savedPlan(
          c,
          kind,
          kind === 'create' ? input.version : undefined,
          'proof',
        )(addresses);
        if (result.refused)
          throw nonRetryable(
            FAILURE.TerraformPlanRefused,
            `${node}: its ${kind === 'destroy' ? 'destroy' : `create at Talos ${input.version}`} is refused, nothing was touched: ${result.refused}${FIXED_IN_TERRAFORM.some((fix) => result.refused?.includes(fix)) ? '' : `. Fix its terraformAddress(es) in the inventory (one node's own instance, e.g. module.nodes["${node}"])`}`,
          );
        if (result.exitCode !== 0) terraformFailure(`planning the rebuild of ${node}`, result);
        plans.push(result);
      }
      const [destroy = '', create = ''] = plans.map((p) => p.planned ?? '');
      if (destroy === 'no changes')
        throw nonRetryable(
          FAILURE.TerraformPlanRefused,
          `${node}: ${addresses.join(', ')} is not in the Terraform state of ${workspaceDir(c)}: its VM could be neither destroyed nor recreated from there. Check the address (terraform state list)`,
        );
      if (destroyedBesidesConfig(plans[0]?.changes ?? []).length === 0)
        throw nonRetryable(
          FAILURE.TerraformPlanRefused,
          `${node}: its rebuild would destroy no VM, nothing was touched: ${addresses.join(', ')} ${addresses.length === 1 ? 'names' : 'name'} only its machine config apply (the destroy: ${destroy}). Add its VM's address to the node's terraformAddresses`,
        );
      // Configured by Terraform: the destroy must take a config apply down with the VM, so that the
      // create makes it again for the new VM (the resource has no replace trigger of its own).
      if (
        configuredByTerraform(c.inventory, c.node(node)) &&
        configAppliesDestroyed(plans[0]?.changes ?? [], addresses).length === 0
      )
        throw nonRetryable(
          FAILURE.TerraformPlanRefused,
          `${node}: its machine config comes from Terraform, but its rebuild would not apply one, nothing was touched: no ${CONFIG_APPLY_TYPE} lies under ${addresses.join(', ')} (the destroy: ${destroy}). Add that resource's address to the node's terraformAddresses, or name a machine config file`,
        );
      // The disk image a new VM boots from is downloaded in the create's apply, after the destroy, and
      // the undo downloads the one it replaced: each must answer now (a wrong version form or a
      // missing schematic would 404 only then). A URL known only at apply cannot be proven.
      const created = plans[1]?.changes ?? [];
      const downloads = downloadsOf(created);
      // What the new VM boots, read from the Image Factory URLs it downloads: the node's schematic at
      // the target version, from a disk image. Else it comes back as another machine after the destroy.
      const booted = bootImagesOf(created, addresses);
      const problem = rebuildImageProblem({
        node,
        schematic: schematicOf(c.inventory, c.node(node)),
        version: input.version,
        downloads,
        ...(booted ? { booted } : {}),
      });
      if (problem) throw nonRetryable(FAILURE.TerraformPlanRefused, problem);
      for (const image of downloads) {
        const which =
          image.for === 'target'
            ? `its create at Talos ${input.version}`
            : 'its undo (the image it replaces)';
        if (image.url === undefined)
          throw nonRetryable(
            FAILURE.TerraformPlanRefused,
            `${node}: ${which} would download ${image.address} from a URL known only at apply; nothing was touched. Build the url from variables and literals so that the plan knows it`,
          );
        if (answered.has(image.url)) continue;
        const shown = image.sensitive ? `${image.address}'s (sensitive) URL` : redactedUrl(image.url);
        heartbeat({ step: `checking the image ${shown}` });
        const status = await imageStatus(image.url, shown);
        if (status !== 200)
          throw nonRetryable(
            FAILURE.TerraformPlanRefused,
            `${node}: ${which} would download ${shown}, which answers ${status}; nothing was touched. Check that the image exists for that version and schematic, and that the versions file writes the version as the URL needs it`,
          );
        answered.add(image.url);
      }
      const configNote = await proveAppliedConfigs(
        c,
        node,
        addresses,
        created,
        input.configsReadBy ?? input.version,
      );
      proven.push({ node, destroy, create: `${create}${configNote}` });
    }
    return { nodes: proven };
  }

  return {
    terraformInit,
    syncTerraformRoot,
    backupTerraformState,
    destroyNodeVm,
    createNodeVm,
    rebuildTemplates,
    proveNodeRebuilds,
  };
}
