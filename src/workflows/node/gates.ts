import { ApplicationFailure, CancellationScope, sleep } from '@temporalio/workflow';
import {
  etcdStorageMayRise,
  etcdUndoBlocked,
  FAILURE,
  healthyOthers,
  lostMetadata,
  othersHoldQuorum,
  voters,
} from '../../domain/index.js';
import { describeFailure } from '../failures.js';
import { describeBlocking, untilRecovered } from '../healthWait.js';
import type { EtcdHealth } from '../../activities/talos.js';
import type { NodeRun } from './run.js';

/**
 * The read-only checks of a node run. A gate never registers an undo: it reads, and refuses with one
 * typed failure when what it reads is not safe to go on with.
 */

/** How often, and how far apart, the quorum gate reads etcd before it refuses. */
const ETCD_GATE_READS = 3;
const ETCD_GATE_INTERVAL = '5s';

/**
 * How long the gate waits for a learner's promotion: machined tries MemberPromote every 15 s for 10
 * minutes after the member's etcd starts (services/etcd.go promoteMember, v1.11 to v1.13). Bounded by
 * time, not by reads: a read of a member whose etcd is down takes its whole deadline.
 */
const PROMOTION_WAIT_MS = 10.5 * 60_000;
const PROMOTION_INTERVAL = '15s';

/** A control plane's wait for its own member to vote again: Talos's 10 minutes of promotion, and then some. */
const MEMBER_WAIT_MS = 15 * 60_000;
const MEMBER_INTERVAL = '2s';

/**
 * The health gate before or after the node's upgrade: the checks the policy names, as one local
 * activity (the checks only read; their probe pods clean up after themselves). Storage that is
 * recovering is waited for, up to policy.recoveryTimeout: before the upgrade all of it (no node goes
 * down while Ceph is degraded from the last one), after it only the node's own OSDs (the rest of the
 * cluster's recovery is the next node's gate's to wait for: it is no reason to roll this node back).
 */
export async function healthGate(run: NodeRun, moment: 'before' | 'after'): Promise<void> {
  const { input } = run;
  const { report, blocking } = await readHealth(run, moment);
  if (blocking.length > 0)
    throw ApplicationFailure.nonRetryable(
      `${input.node} is not healthy ${moment} its upgrade: ${report.summary}: ${describeBlocking(blocking)}`,
      FAILURE.HealthCheckFailed,
    );
}

/** The gate's checks, waiting out a recovery; after the node's change, only its own storage's. */
function readHealth(run: NodeRun, moment: 'before' | 'after') {
  const { input } = run;
  return untilRecovered(
    () => run.gate.runHealthChecks({ cluster: input.cluster, node: input.node }),
    input.timing.recoveryTimeoutMs,
    (failure) => moment === 'after' && failure.recovering === 'cluster',
  );
}

/**
 * The same checks after a failure's undo, reported rather than thrown: the node is back where it
 * was, and the notice says whether it is healthy there. It waits for the node's own storage to
 * recover, as the gate after an upgrade does; a check that cannot run is reported as such. Not
 * cancellable: a cancel that comes meanwhile ends the run once the report is in.
 */
export async function healthAfterUndo(run: NodeRun): Promise<{ ok: boolean; summary: string }> {
  return CancellationScope.nonCancellable(async () => {
    try {
      const { report, blocking } = await readHealth(run, 'after');
      if (blocking.length === 0) return { ok: true, summary: report.summary };
      return { ok: false, summary: `${report.summary}: ${describeBlocking(blocking)}` };
    } catch (error) {
      return { ok: false, summary: `the health checks could not run: ${describeFailure(error)}` };
    }
  });
}

/**
 * etcd must be able to lose this node without losing quorum. It reads again before it refuses: one
 * member that misses one status call (a leader election, a slow answer) must not halt an upgrade
 * that is hours long.
 */
export async function etcdGate(run: NodeRun): Promise<void> {
  const { input } = run;
  let health = await waitForPromotion(run);
  // The first read, before anything moved: the etcd the node's undo would boot again.
  run.etcdBefore ??= health.versions?.[input.node];
  for (let read = 1; !health.canLoseOne && read < ETCD_GATE_READS; read++) {
    await sleep(ETCD_GATE_INTERVAL, {
      summary: `etcd unhealthy: read again (${read + 1}/${ETCD_GATE_READS})`,
    });
    health = await run.read.checkEtcdHealth({ cluster: input.cluster });
    run.etcdBefore ??= health.versions?.[input.node];
  }
  if (!health.canLoseOne) {
    const sick = health.unhealthy.map((u) => `${u.node} (${u.error})`).join(', ') || 'none';
    throw ApplicationFailure.nonRetryable(
      `etcd on ${input.cluster} cannot lose ${input.node} without losing quorum (${health.healthy.length}/${health.members.length} healthy; unhealthy: ${sick})`,
      FAILURE.QuorumAtRisk,
    );
  }
}

/**
 * A learner holds no vote, so a cluster with one has a voter fewer than it has members: the gate
 * waits for Talos to promote it rather than count it (a node taken down then could lose quorum), and
 * refuses when Talos has stopped trying.
 */
async function waitForPromotion(run: NodeRun) {
  const { input } = run;
  // Workflow time: Date.now() replays as recorded.
  const until = Date.now() + PROMOTION_WAIT_MS;
  let health = await run.read.checkEtcdHealth({ cluster: input.cluster });
  while (health.learners.length > 0 && Date.now() < until) {
    await sleep(PROMOTION_INTERVAL, {
      summary: `etcd member ${health.learners.join(', ')} is a learner: wait for its promotion`,
    });
    health = await run.read.checkEtcdHealth({ cluster: input.cluster });
  }
  if (health.learners.length > 0)
    throw ApplicationFailure.nonRetryable(
      `etcd on ${input.cluster} still has a learner (${health.learners.join(', ')}) after 10 minutes: it has no vote, so ${input.node} is not taken down. Talos stopped promoting it; read its log (talosctl -n <node> logs etcd) and restart etcd there (talosctl -n <node> service etcd restart), then run the upgrade again`,
      FAILURE.QuorumAtRisk,
    );
  return health;
}

/**
 * A control plane's quorum gate again, after its drain and right before its reboot: Talos 1.13's
 * upgrade no longer checks etcd on the server, so ours is the gate that counts.
 */
export async function gateBeforeReboot(run: NodeRun): Promise<void> {
  if (run.input.role !== 'controlplane') return;
  run.step('etcd quorum gate before the reboot');
  await etcdGate(run);
}

/**
 * Before an undo takes a control-plane node down again (reboot into the old version, VM recreated):
 * the other members alone must hold quorum, and the etcd the node ran before must be able to start on
 * the cluster's data (a hop that raised etcd's minor raises its storage version with its last
 * controller: etcdUndoBlocked). When either fails, the node stays as it is, up on the new version, and
 * the undo stops for an operator: a rollback must never be what loses etcd.
 */
export async function rollbackGate(run: NodeRun): Promise<void> {
  const { input } = run;
  if (input.role !== 'controlplane') return;
  const health = await run.undoRead.checkEtcdHealth({ cluster: input.cluster });
  othersMustHoldQuorum(run, health);
  await etcdStorageGate(run, health);
}

function othersMustHoldQuorum(run: NodeRun, health: EtcdHealth): void {
  const { input } = run;
  if (othersHoldQuorum(health, input.node)) return;
  throw ApplicationFailure.nonRetryable(
    `not taking ${input.node} down to roll it back: the other etcd voters (${healthyOthers(health, input.node)}/${voters(health.members).length} healthy) would not hold quorum. It stays as it is (up, on ${input.to}); fix etcd, then \`talos-upgrade undo retry\` (or run the upgrade again)`,
    FAILURE.QuorumAtRisk,
  );
}

/**
 * The etcd the node ran before its upgrade must start on the cluster's storage version (etcdUndoBlocked).
 * When every member runs a newer minor but the storage is not raised yet, a read 10 s later tells
 * etcd's leader about to raise it (its round is 4 s) from an operator's downgrade holding it down.
 */
async function etcdStorageGate(run: NodeRun, first: EtcdHealth): Promise<void> {
  const { input } = run;
  const before = run.etcdBefore;
  if (!before) return;
  const of = (health: EtcdHealth) => ({
    cluster: input.cluster,
    node: input.node,
    from: input.from,
    to: input.to,
    strategy: input.strategy,
    before,
    versions: health.versions ?? {},
    storage: health.storage ?? {},
    members: health.members.length,
  });
  let health = first;
  if (!etcdUndoBlocked(of(health)) && etcdStorageMayRise(of(health))) {
    await sleep('10s', { summary: 'etcd: every member runs a newer minor; read its storage version again' });
    health = await run.undoRead.checkEtcdHealth({ cluster: input.cluster });
    // The node goes down after this read: quorum again, as rollbackGate's first read had it.
    othersMustHoldQuorum(run, health);
  }
  const blocked = etcdUndoBlocked(of(health));
  if (blocked) throw ApplicationFailure.nonRetryable(blocked, FAILURE.EtcdDowngradeNeeded);
}

/**
 * A control plane after its upgrade: its etcd member healthy and voting again (a recreated VM joins
 * as a learner), and every other member healthy. The node stays cordoned while this waits, so it asks
 * every 2 s (a read of a member whose etcd is down takes up to its 10 s deadline), for up to 15
 * minutes: Talos tries a promotion for 10.
 */
export async function waitForEtcdMember(run: NodeRun): Promise<void> {
  const { input } = run;
  let learner = false;
  const until = Date.now() + MEMBER_WAIT_MS;
  while (Date.now() < until) {
    const health = await run.read.checkEtcdHealth({ cluster: input.cluster });
    learner = health.learners.includes(input.node);
    if (health.healthy.includes(input.node) && !learner && health.unhealthy.length === 0) return;
    await sleep(MEMBER_INTERVAL, {
      summary: learner
        ? `wait for the promotion of ${input.node}'s etcd learner`
        : `wait for the etcd member of ${input.node}`,
    });
  }
  throw ApplicationFailure.nonRetryable(
    learner
      ? `${input.node} joined etcd as a learner and was not promoted in 15 minutes: read its etcd log (talosctl -n ${input.node} logs etcd); no other controller is touched while it has no vote`
      : `${input.node} did not become a healthy etcd member again`,
    FAILURE.QuorumAtRisk,
  );
}

/** After the boot: the NICs the inventory names, and the kernel arguments it expects. */
export async function checkBootedNode(run: NodeRun): Promise<void> {
  run.step('checking NICs');
  await run.read.checkNodeNics(run.at);
  run.step('checking the kernel command line');
  await run.read.checkKernelArgs(run.at);
}

/** Pets keep the node's Kubernetes object: its labels and taints must survive the upgrade. */
export async function keptLabelsAndTaints(
  run: NodeRun,
  before: Awaited<ReturnType<NodeRun['read']['readNodeMetadata']>>,
): Promise<void> {
  const lost = lostMetadata(before, await run.read.readNodeMetadata(run.at));
  if (lost.labels.length || lost.taints.length)
    throw ApplicationFailure.nonRetryable(
      `${run.input.node} lost labels [${lost.labels.join(', ')}] or taints [${lost.taints.join(', ')}] in the upgrade`,
      FAILURE.ValidationFailed,
    );
}
