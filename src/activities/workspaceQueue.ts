import type { Context } from '@temporalio/activity';
import { currentActivity, heartbeatOf } from './activityContext.js';
import type { CommandResult } from './runCommand.js';

/** What stops a shared run and where its beats go (see RunOptions.shared). */
export interface SharedControl {
  signal: AbortSignal;
  heartbeat: (details: unknown) => void;
}

/** One activity's turn at a workspace's state lock. */
export interface WorkspaceRun {
  /** What the heartbeat says, e.g. `terraform apply module.nodes["k8s-work-5"] at Talos 1.12.0`. */
  what: string;
  /**
   * Runs with the same key do the same thing to different targets (`apply` at one version, `destroy`):
   * those waiting together go as one run with all their targets. Without a key a run goes alone.
   */
  batchKey?: string;
  /** This run's Terraform addresses (a node may name several: its VM and what configures it). */
  targets?: string[];
  node?: string;
  /** The node asks for its next run right after this one: a cattle node's create follows its destroy. */
  followedUp?: boolean;
  /** Runs the command for these targets (the key's members', or this run's own target alone). */
  command: (targets: string[], control: SharedControl) => Promise<CommandResult>;
}

/** A run's outcome for one of its members, and the other nodes that went in the same run. */
export type SharedResult = CommandResult & { together: string[] };

/**
 * How long the queue holds the lock's next turn by default for nodes whose VMs it has just destroyed:
 * their creates come a workflow task later (milliseconds, a second on a loaded worker), and waiting for
 * them clones those VMs in one run instead of one after another.
 */
export const FOLLOW_UP_MS = 2000;
/**
 * How long a create may wait, as a share of this workspace's last run of the same kind, for nodes
 * whose drain is under way to reach their destroy. A destroy that comes just after a create started
 * waits for the whole create (a VM clone: minutes), and the two nodes then clone apart; waiting a
 * quarter of a clone for it sends both VMs in one run. Scale-free: a 3-minute clone waits 45 s at
 * most, a lab clone of 3 s 0.75 s.
 */
export const DRAIN_HOLD_SHARE = 0.25;
/**
 * How long a create may wait, as a share of the last run of its kind, for the destroy of a node whose
 * drain a PodDisruptionBudget holds until it is forced, when the drain's deadline comes within this
 * share of the create's arrival. That node is the long one of its round: its lane already runs behind
 * by the drain timeout, and its destroy, coming just after the other lanes' clone started, waited for
 * the whole clone on top; its lane then stayed behind, and its later destroys waited for the other
 * lanes' clones again (2–3 s a round in the schedule bench). Waiting for it costs the other lanes, which
 * are ahead of it by about the drain timeout, and its VM joins their clone: the lanes go on together.
 * At most one clone from the create's arrival (3.6 s in the lab, 3 min for a 3-minute clone) while
 * the drain is forced; once it is through, DRAIN_HOLD_SHARE from then, for the backup before the
 * destroy.
 */
export const FORCED_DRAIN_HOLD_SHARE = 1;
/**
 * How long a drained node's destroy is remembered (its backup runs first); longer when a hold it can
 * cause lasts longer (WorkspaceQueue.forgetDrainedAt).
 */
const DRAINED_MS = 10_000;
const BEAT_EVERY_MS = 5000;

/** How a cattle node's drain is going, as the drain reports it (see WorkspaceQueue.drainOf). */
export type DrainState = 'draining' | 'blocked' | 'drained' | 'failed';

/** A node whose drain is under way: its destroy comes next unless a PodDisruptionBudget holds it up. */
interface Draining {
  blocked: boolean;
  /**
   * When a blocked drain is forced: its destroy follows then (none when the drain may not force).
   * Kept by this drain's later reports (it is forced, then through), never by another drain's.
   */
  forcedAt?: number;
  /** When the drain reported it was through. */
  drainedAt?: number;
  /** When its destroy said it was on its way (WorkspaceQueue.destroyComing). */
  destroyingAt?: number;
  /** Forgotten after this (a drain that never reported its end, a run cancelled before its destroy). */
  until: number;
}

interface Member {
  run: WorkspaceRun;
  arrived: number;
  context: Context | undefined;
  alone: boolean;
  state: 'waiting' | 'running';
  /** Set when the activity is cancelled during its run: it ends when the run does. */
  cancelled?: Error;
  batch?: { members: Member[]; controller: AbortController; details: Record<string, unknown> };
  resolve(result: SharedResult): void;
  reject(error: Error): void;
}

function reasonOf(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('cancelled');
}

/**
 * Runs that take a workspace's state lock go one at a time per workspace inside this worker, in the
 * order they come (but see below). Left to themselves, parallel `terraform apply -target` runs (maxParallelWorkers
 * nodes at once) fight over the state lock, and Terraform's growing retry backoff lets a waiting run
 * sleep on long after the lock is free while others jump ahead: one node waited 47 s in the lab for
 * runs of 2 s. Between worker processes, `-lock-timeout` still keeps them apart.
 *
 * Runs waiting with the same batch key go together, so the VMs of nodes that start at once are cloned
 * at once (`-target` for each) instead of each node waiting for the others' clones: a destroy waiting
 * goes first, and the next run waits briefly for the nodes just destroyed (FOLLOW_UP_MS) to ask for
 * their creates. A member cancelled during a shared run ends when the run does (as Terraform itself
 * finishes the VM operation in flight when interrupted); the run is interrupted only when all its
 * members are cancelled. When a shared run fails (other than on the lock), its members run again one by
 * one, so each gets its own outcome.
 */
export class WorkspaceQueue {
  private readonly waiting: Member[] = [];
  private busy = false;
  /** Nodes whose VM was just destroyed, until when their create is waited for. */
  private readonly expected = new Map<string, number>();
  private wake: ReturnType<typeof setTimeout> | undefined;
  /** Nodes draining towards a destroy (see DRAIN_HOLD_SHARE). */
  private readonly draining = new Map<string, Draining>();
  /** How long the last successful run of each batch key took. */
  private readonly lastRunMs = new Map<string, number>();

  /**
   * @param retriesAlone whether a failed shared run's members should run again one by one
   * @param followUpMs how long a run waits for the creates of the nodes just destroyed
   */
  constructor(
    private readonly retriesAlone: (result: CommandResult) => boolean,
    private readonly followUpMs = FOLLOW_UP_MS,
  ) {}

  /**
   * Says how the drain of a node whose VM is recreated next is going: `draining` (its destroy comes
   * when the drain ends), `blocked` (a PodDisruptionBudget refuses an eviction: not soon), `drained`
   * (the destroy is on its way), or `failed` (no destroy comes). A create waits a little for the
   * destroys of draining nodes, and for a blocked one only when it is forced soon
   * (FORCED_DRAIN_HOLD_SHARE); a drain that may not force is never waited for while blocked.
   */
  drainOf(node: string, state: DrainState, drainDeadline?: number, forced = false): void {
    if (state === 'failed') this.draining.delete(node);
    else {
      // A drain is told apart by its deadline: an earlier drain of the node (one whose destroy never
      // came, or an attempt still running beside its retry) does not pass its forced end on.
      const earlier = this.draining.get(node)?.forcedAt;
      const sameDrain = drainDeadline === undefined || drainDeadline === earlier;
      const forcedAt =
        state === 'blocked' && forced && drainDeadline !== undefined
          ? drainDeadline
          : sameDrain
            ? earlier
            : undefined;
      this.draining.set(node, {
        blocked: state === 'blocked',
        ...(forcedAt !== undefined ? { forcedAt } : {}),
        ...(state === 'drained' ? { drainedAt: Date.now() } : {}),
        until: state === 'drained' ? this.forgetDrainedAt() : (drainDeadline ?? Date.now()) + DRAINED_MS,
      });
    }
    this.pump();
  }

  /**
   * Says that a node's destroy is on its way: one Terraform call (the check that its VM is in the
   * state, outside the queue) before it asks for its turn. A create waits for it up to
   * FORCED_DRAIN_HOLD_SHARE of a clone from now: on a loaded machine that check outlasted the short
   * hold of a drained node, and the destroy then waited for the whole clone of the others and cloned
   * its VM alone after it (the one miss at maxParallelWorkers 3 in the schedule bench). Returns what
   * says that no destroy comes after all (its VM is not in the state, or the check failed).
   */
  destroyComing(node: string): () => void {
    const previous = this.draining.get(node);
    const now = Date.now();
    const entry: Draining = { ...previous, blocked: false, destroyingAt: now, until: this.forgetDrainedAt() };
    this.draining.set(node, entry);
    this.pump();
    return () => {
      if (this.draining.get(node) !== entry) return;
      this.draining.delete(node);
      this.pump();
    };
  }

  /**
   * When a drained node, or one whose destroy is on its way, is forgotten: DRAINED_MS from now, or the
   * longest hold it can cause (a clone, for a destroy on its way) when that is longer. An entry is
   * never waited for past its end, and a real clone takes minutes.
   */
  private forgetDrainedAt(): number {
    const longestRun = Math.max(0, ...this.lastRunMs.values());
    return Date.now() + Math.max(DRAINED_MS, FORCED_DRAIN_HOLD_SHARE * longestRun);
  }

  submit(run: WorkspaceRun): Promise<SharedResult> {
    const context = currentActivity();
    const signal = context?.cancellationSignal;
    if (run.node) {
      this.expected.delete(run.node);
      this.draining.delete(run.node);
    }
    return new Promise<SharedResult>((resolve, reject) => {
      if (signal?.aborted) {
        reject(reasonOf(signal));
        this.pump();
        return;
      }
      const member: Member = {
        run,
        arrived: Date.now(),
        context,
        alone: !run.batchKey,
        state: 'waiting',
        resolve,
        reject,
      };
      const beat = setInterval(() => this.beat(member), BEAT_EVERY_MS);
      const onAbort = () => {
        if (!signal) return;
        if (member.state === 'waiting') {
          this.waiting.splice(this.waiting.indexOf(member), 1);
          done();
          reject(reasonOf(signal));
          this.pump();
          return;
        }
        member.cancelled = reasonOf(signal);
        const batch = member.batch;
        if (batch && batch.members.every((m) => m.cancelled)) batch.controller.abort(member.cancelled);
      };
      const done = () => {
        clearInterval(beat);
        signal?.removeEventListener('abort', onAbort);
      };
      member.resolve = (result) => (done(), resolve(result));
      member.reject = (error) => (done(), reject(error));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(member);
      this.pump();
    });
  }

  private beat(member: Member): void {
    const { run, batch } = member;
    if (!batch) {
      heartbeatOf(member.context, {
        step: run.what,
        waiting:
          'for the state lock: an earlier run of this workspace, the creates of nodes just destroyed, or the destroys of nodes draining',
      });
      return;
    }
    heartbeatOf(member.context, { ...batch.details, step: run.what, together: this.othersOf(member) });
  }

  private othersOf(member: Member): string[] {
    return (member.batch?.members ?? []).flatMap((m) => (m !== member && m.run.node ? [m.run.node] : []));
  }

  private pump(): void {
    // A waiting destroy goes before the creates: it is short, and the node's create then joins theirs
    // (lanes whose drains end a moment apart still clone their VMs in one run).
    const head = this.waiting.find((m) => m.run.followedUp) ?? this.waiting[0];
    if (this.busy || !head) return;
    clearTimeout(this.wake);
    const now = Date.now();
    this.forgetExpired(now);
    if (this.expected.size > 0) {
      this.wake = setTimeout(() => this.pump(), Math.min(...this.expected.values()) - now);
      return;
    }
    const holdUntil = this.drainHold(head, now);
    if (holdUntil > now) {
      this.wake = setTimeout(() => this.pump(), holdUntil - now);
      return;
    }
    const members: [Member, ...Member[]] = head.alone
      ? [head]
      : [head, ...this.waiting.filter((m) => m !== head && !m.alone && m.run.batchKey === head.run.batchKey)];
    for (const m of members) this.waiting.splice(this.waiting.indexOf(m), 1);
    this.busy = true;
    void this.go(members)
      // A bug in the bookkeeping must not strand the members until their start-to-close timeout.
      .catch((error: unknown) => {
        for (const m of members) m.reject(error instanceof Error ? error : new Error(String(error)));
      })
      .finally(() => {
        this.busy = false;
        this.pump();
      });
  }

  /** Forgets the creates and the drains waited for past their time. */
  private forgetExpired(now: number): void {
    for (const [node, until] of this.expected) if (until <= now) this.expected.delete(node);
    for (const [node, drain] of this.draining) if (drain.until <= now) this.draining.delete(node);
  }

  /** Until when a create waits for the destroys of nodes still draining (now: it does not wait). */
  private drainHold(head: Member, now: number): number {
    const key = head.run.batchKey;
    // A member that runs alone after a failed shared run joins no clone: waiting would gain nothing.
    if (head.run.followedUp || !key || head.alone) return now;
    const lastRun = this.lastRunMs.get(key) ?? 0;
    let until = now;
    // Never past an entry's own end: a destroy that does not come here is not waited for.
    for (const drain of this.draining.values())
      until = Math.max(until, Math.min(this.destroyExpectedBy(drain, head.arrived, lastRun), drain.until));
    return until;
  }

  /** Until when a create that arrived at `arrived` waits for this node's destroy (0: not at all). */
  private destroyExpectedBy(drain: Draining, arrived: number, lastRun: number): number {
    // On its way: one Terraform call away from its turn.
    if (drain.destroyingAt !== undefined) return drain.destroyingAt + FORCED_DRAIN_HOLD_SHARE * lastRun;
    // Through its drain: a share from whichever came later, the drain's end or the create, for the
    // pods' deletion and the state backup. Counted from the create's arrival alone, a drain ending
    // after the create came left them less than the share.
    const share = DRAIN_HOLD_SHARE * lastRun;
    if (drain.drainedAt !== undefined) return Math.max(arrived, drain.drainedAt) + share;
    // Forced soon: until it is through, at most a clone from the create's arrival.
    const forcedBy = arrived + FORCED_DRAIN_HOLD_SHARE * lastRun;
    if (drain.forcedAt !== undefined && drain.forcedAt <= forcedBy) return forcedBy;
    return drain.blocked ? 0 : arrived + share;
  }

  private async go(members: [Member, ...Member[]]): Promise<void> {
    const batch = { members, controller: new AbortController(), details: {} };
    for (const m of members) {
      m.state = 'running';
      m.batch = batch;
    }
    const targets = members.flatMap((m) => m.run.targets ?? []);
    let result: CommandResult;
    const started = Date.now();
    try {
      result = await members[0].run.command(targets, {
        signal: batch.controller.signal,
        heartbeat: (details) => {
          batch.details = details as Record<string, unknown>;
          for (const m of members) this.beat(m);
        },
      });
    } catch (error) {
      for (const m of members) m.reject(m.cancelled ?? (error as Error));
      return;
    }
    const live = members.filter((m) => !m.cancelled);
    for (const m of members) if (m.cancelled) m.reject(m.cancelled);
    if (result.exitCode !== 0 && members.length > 1 && this.retriesAlone(result)) {
      for (const m of live) {
        m.alone = true;
        m.state = 'waiting';
        m.batch = undefined;
      }
      this.waiting.unshift(...live);
      return;
    }
    const key = members[0].run.batchKey;
    if (result.exitCode === 0 && key) this.lastRunMs.set(key, Date.now() - started);
    if (result.exitCode === 0)
      for (const m of live)
        if (m.run.followedUp && m.run.node) this.expected.set(m.run.node, Date.now() + this.followUpMs);
    for (const m of live) m.resolve({ ...result, together: this.othersOf(m) });
  }
}
