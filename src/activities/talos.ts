import { createHash } from 'node:crypto';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { installerImage, linkNics, voters, type InventoryNode, type TalosLink } from '../domain/index.js';
import { heartbeat, sleep } from './activityContext.js';
import type { ActivityDeps, ClusterHandle } from './deps.js';
import { nonRetryable, retryable, tail } from './errors.js';
import { parseJsonStream, parseTable } from './jsonStream.js';
import { settlingOnCancel } from './settleAfterCancel.js';
import {
  isUnavailable,
  joinErrorSets,
  parseServerTag,
  pullGaveUp,
  registryGaveUp,
  talosctl,
  talosctlDuration,
  talosFailure,
} from './talosctl.js';
import type { CommandResult } from './runCommand.js';
import { talosAddonsNotAvailable } from './talosAddons.js';

export interface EtcdMember {
  id: string;
  /** The member's Talos hostname: not necessarily the inventory's name for the node. */
  hostname: string;
  /** The inventory node whose address the member's peer URL holds, when there is one. */
  node?: string;
  /** A learner: a member Talos added when the node joined, with no vote until it is promoted. */
  learner: boolean;
}

export interface EtcdHealth {
  members: EtcdMember[];
  healthy: string[];
  unhealthy: Array<{ node: string; error: string }>;
  /** The members that are still learners (node name, else hostname): they hold no vote. */
  learners: string[];
  /** More than half of the voters answer. */
  quorum: boolean;
  /** Whether one more voter may go down without losing quorum. */
  canLoseOne: boolean;
  /** The etcd version each answering member runs (`etcd status`'s PROTOCOL), by node. */
  versions?: Record<string, string>;
  /** Each answering member's storage version (`etcd status`'s STORAGE, etcd 3.6+), by node. */
  storage?: Record<string, string>;
}

/** The host of a URL such as https://10.0.0.11:2380. */
function urlHost(url: string): string {
  try {
    return new URL(url).hostname.replace(/^\[|\]$/g, '');
  } catch {
    return '';
  }
}

/**
 * How long one node's etcd read may take. machined answers a running etcd in milliseconds, and
 * talosctl starts and shakes hands within a second or two even on a loaded machine; a node whose etcd
 * is down never answers by itself (see etcdStatusByNode), and a controller's run reads it every few
 * seconds while its rebuilt VM boots, so each such read costs the whole deadline.
 */
const ETCD_READ_TIMEOUT_MS = 10_000;
/** upgrade-k8s's dry run: longer than Talos's 20 minutes of retries for one pull, so its answer comes back. */
const DRY_RUN_MS = 22 * 60_000;
/**
 * How long a Kubernetes step waits for Talos's add-ons to be available again after the hop before it:
 * the last node was Ready already (its gate), and its pods follow within 30-90 s on real hardware.
 * With both upgrade-k8s runs (22 + 50 minutes) inside the activity's 75.
 */
const ADDONS_SETTLE_MS = 2 * 60_000;
/** The real upgrade-k8s; with the dry run before it, inside the activity's 75 minutes. */
const UPGRADE_K8S_MS = 50 * 60_000;

/** One controller's answer to `etcd status`, read on its own. */
interface EtcdStatusRead {
  node: string;
  /** answered: a status row (maybe with ERRORS); silent: no answer before our deadline; unreachable: no Talos API; failed: anything else. */
  kind: 'answered' | 'silent' | 'unreachable' | 'failed';
  /** Why the member is not healthy: its row's ERRORS, or why the read failed. */
  error?: string;
  /** The member is a learner (etcd 3.6 refuses a member list on one; ask a voter first). */
  learner: boolean;
  /** The etcd version it runs (PROTOCOL: the server version etcd's Status answers). */
  version?: string;
  /** The storage version of its data (STORAGE; empty from etcd 3.5). */
  storage?: string;
  result: CommandResult;
}

/** The controllers whose etcd answered, voters before learners, each group in inventory order. */
function answeredVotersFirst(reads: EtcdStatusRead[]): string[] {
  const answered = reads.filter((r) => r.kind === 'answered');
  return [...answered.filter((r) => !r.learner), ...answered.filter((r) => r.learner)].map((r) => r.node);
}

/** Why one node's etcd read failed, in words an operator can act on. */
export function etcdReadError(result: CommandResult): string {
  if (result.timedOut)
    return `no answer in ${ETCD_READ_TIMEOUT_MS / 1000} s: its etcd is not running or not ready (talosctl -n <node> service etcd)`;
  // A node's own failure: `* <ip>: <error>` under a summary line (apid's multierror, talosctl 1.13), or
  // `error from node <ip>: <error>` (1.14's per-node calls, cmd/talosctl/cmd/talos/etcd.go at v1.14.1).
  const nodeLine = /^\s*(?:\*\s+|error from node\s+)\S+?:\s+(.+)$/m.exec(result.stderr)?.[1];
  return nodeLine ?? (tail(result.stderr || result.stdout, 3) || `talosctl exited ${result.exitCode}`);
}

/**
 * How a failed `talosctl upgrade --wait` is classified. Its progress and errors are all on stderr as
 * `"<node>": <message>`, and a normal reboot prints `unavailable, retrying...` on the way, so the
 * last line that is not progress decides. A refusal of the etcd checks is final, an installer the
 * registry does not have too; a wait that ran out (often with no final line at all) is retried: the
 * retry first asks the node's version.
 */
export function classifyUpgradeFailure(
  output: string,
): 'quorum' | 'image' | 'registry' | 'unanswered' | 'sequence' | 'unavailable' | 'other' {
  const stderr = joinErrorSets(output);
  if (
    /error validating etcd for upgrade|insufficient to maintain quorum|all members must be (healthy|running)/.test(
      stderr,
    )
  )
    return 'quorum';
  const lines = stderr
    .split('\n')
    .map((line) => line.trim())
    .filter(
      (line) =>
        line &&
        !line.startsWith('WARNING:') &&
        !/stopAllServices task completed|falling back to legacy|Forcing use of legacy upgrade method/.test(
          line,
        ),
    );
  const last = lines.at(-1) ?? '';
  // A budget that ran out says so last, whatever else it saw (a NotFound among 503s is the registry's).
  if (/error validating installer image/.test(last) && pullGaveUp(last)) return 'registry';
  if (
    /error validating installer image.*(not found|manifest unknown|name unknown)|error pulling upgrade image:.*code = NotFound/.test(
      last,
    )
  )
    return 'image';
  // The legacy call answers only once the installer is pulled and validated (MachineService.Upgrade,
  // v1alpha1_server.go:498-500 at v1.11.3): a deadline met while talosctl still waits for the actor id
  // (it prints nothing more) found Talos pulling.
  if (/^"[^"]+": waiting for actor ID$/.test(last)) return 'unanswered';
  // The upgrade sequence failed after it stopped the node's services (an installer that refused the host,
  // or failed to write): machined reboots the node into the version it ran (internal/app/machined/main.go
  // handle at v1.11.3). Final: another call would drain and reboot the node again for the same answer.
  if (/sequence error: sequence failed: /.test(last)) return 'sequence';
  if (
    !last ||
    /unavailable, retrying|\btimeout$|context deadline exceeded|code = (Unavailable|DeadlineExceeded)|error validating installer image|another installation\/upgrade is already in progress/.test(
      last,
    ) ||
    /action: (START|STOP)$|^"[^"]+": (stage|sequence|phase|task|actor ID|waiting for actor ID)/.test(last)
  )
    return 'unavailable';
  return 'other';
}

export function talosActivities(deps: ActivityDeps, cluster: (name: string) => ClusterHandle) {
  const controllers = (c: ClusterHandle) => c.inventory.nodes.filter((n) => n.role === 'controlplane');

  async function getTalosVersion(input: { cluster: string; node: string }): Promise<string> {
    const c = cluster(input.cluster);
    const node = c.node(input.node);
    const result = await talosctl(deps, c, ['-n', node.ip, 'version'], { timeoutMs: 30_000 });
    if (result.exitCode !== 0) talosFailure(`reading the Talos version of ${node.name}`, result);
    const tag = parseServerTag(result.stdout);
    if (!tag)
      throw nonRetryable(
        'CommandFailed',
        `talosctl version on ${node.name} printed no server tag: ${tail(result.stdout, 3)}`,
      );
    return tag;
  }

  /**
   * Every node's Talos version in one call, so a run that was halted half-way plans from the oldest
   * node; nodes that do not answer are left out rather than failing the read.
   */
  async function getTalosVersions(input: { cluster: string }): Promise<Record<string, string>> {
    const c = cluster(input.cluster);
    const byIp = new Map(c.inventory.nodes.map((n) => [n.ip, n.name]));
    const ips = c.inventory.nodes.map((n) => n.ip);
    const result = await talosctl(deps, c, ['-n', ips.join(','), 'version'], { timeoutMs: 60_000 });
    const server = result.stdout.slice(result.stdout.indexOf('Server:'));
    const versions: Record<string, string> = {};
    for (const m of server.matchAll(/NODE:\s+(\S+)\s+Tag:\s+v?(\S+)/g)) {
      const name = byIp.get(m[1] ?? '');
      if (name && m[2]) versions[name] = m[2];
    }
    if (Object.keys(versions).length === 0) talosFailure(`reading the Talos versions of ${c.name}`, result);
    return versions;
  }

  /**
   * The member list, from the first controller that answers. talosctl 1.11 to 1.13 ask each node's
   * local etcd (QueryLocal), and a node whose etcd is down holds the call until our deadline: `from`
   * names the controllers to ask, in order (those whose etcd just answered its status).
   */
  async function listEtcdMembers(c: ClusterHandle, exclude?: string, from?: string[]): Promise<EtcdMember[]> {
    let last = '';
    const byIp = new Map(c.inventory.nodes.map((n) => [n.ip, n.name]));
    const asked = from ? from.map((name) => c.node(name)) : controllers(c).filter((n) => n.name !== exclude);
    for (const node of asked) {
      const result = await talosctl(deps, c, ['-n', node.ip, 'etcd', 'members'], {
        timeoutMs: ETCD_READ_TIMEOUT_MS,
      });
      const rows = parseTable(result.stdout);
      if (result.exitCode === 0 && rows.length > 0)
        // Members are matched to nodes by the address in their peer URL: the member name is the
        // node's Talos hostname, which need not be the inventory's name.
        return rows.map((row) => {
          const inventoryName = byIp.get(urlHost((row['PEER URLS'] ?? '').split(',')[0] ?? ''));
          return {
            id: row.ID ?? '',
            hostname: row.HOSTNAME ?? '',
            ...(inventoryName ? { node: inventoryName } : {}),
            // talosctl prints Go's %v of IsLearner (cmd/talosctl/cmd/talos/etcd.go, v1.11 to v1.13).
            learner: row.LEARNER === 'true',
          };
        });
      last = etcdReadError(result);
    }
    throw retryable(
      'TalosUnavailable',
      `no control-plane node of ${c.name} answered "etcd members": ${last}`,
    );
  }

  /**
   * `etcd status` of each controller, one call per node, all at once, each with its own deadline: a
   * node whose etcd is down does not fail its call, it holds it (machined's local etcd client waits
   * for the connection), and one call to every node would end only with the slowest (talosctl 1.13 lost
   * every answer then; 1.14 prints the others' rows but still exits at the deadline).
   */
  async function etcdStatusByNode(c: ClusterHandle): Promise<EtcdStatusRead[]> {
    return Promise.all(
      controllers(c).map(async (node): Promise<EtcdStatusRead> => {
        const result = await talosctl(deps, c, ['-n', node.ip, 'etcd', 'status'], {
          timeoutMs: ETCD_READ_TIMEOUT_MS,
        });
        const row = result.exitCode === 0 ? parseTable(result.stdout)[0] : undefined;
        if (row)
          return {
            node: node.name,
            kind: 'answered',
            ...(row.ERRORS ? { error: row.ERRORS } : {}),
            learner: row.LEARNER === 'true',
            ...(row.PROTOCOL ? { version: row.PROTOCOL } : {}),
            ...(row.STORAGE ? { storage: row.STORAGE } : {}),
            result,
          };
        const kind = result.timedOut ? 'silent' : isUnavailable(result) ? 'unreachable' : 'failed';
        return { node: node.name, kind, error: etcdReadError(result), learner: false, result };
      }),
    );
  }

  /** What `reads` say about each node, for a message. */
  const readErrors = (reads: EtcdStatusRead[]) =>
    reads.map((r) => `${r.node}: ${r.error ?? 'healthy'}`).join('; ');

  /**
   * etcd status on every controller: who answers, whether quorum holds and survives one more loss.
   * A member that does not answer in time counts as unhealthy. When none answered: a failure that is
   * neither silence nor an unreachable API (a refused certificate, a broken talosconfig) is final,
   * every API unreachable is retried, and every etcd silent is a quorum lost.
   */
  async function checkEtcdHealth(input: { cluster: string }): Promise<EtcdHealth> {
    const c = cluster(input.cluster);
    const reads = await etcdStatusByNode(c);
    const healthy = reads.filter((r) => r.kind === 'answered' && !r.error).map((r) => r.node);
    const unhealthy = reads.flatMap((r) => (r.error ? [{ node: r.node, error: r.error }] : []));
    const answered = answeredVotersFirst(reads);
    if (answered.length === 0) {
      const failed = reads.find((r) => r.kind === 'failed');
      if (failed) talosFailure(`checking etcd on ${c.name} (${failed.node})`, failed.result);
      if (reads.every((r) => r.kind === 'unreachable'))
        throw retryable(
          'TalosUnavailable',
          `checking etcd on ${c.name}: no control-plane node's Talos API answered (${readErrors(reads)}); retrying`,
        );
      return { members: [], healthy, unhealthy, learners: [], quorum: false, canLoseOne: false };
    }
    const members = await listEtcdMembers(c, undefined, answered);
    // Quorum is a majority of the voters: a learner neither votes nor counts in the majority.
    const voting = voters(members);
    const healthyVoters = voting.filter((m) => healthy.includes(m.node ?? m.hostname)).length;
    return {
      members,
      healthy,
      unhealthy,
      learners: members.filter((m) => m.learner).map((m) => m.node ?? m.hostname),
      quorum: healthyVoters > voting.length / 2,
      canLoseOne: healthyVoters - 1 > voting.length / 2,
      versions: Object.fromEntries(reads.flatMap((r) => (r.version ? [[r.node, r.version]] : []))),
      storage: Object.fromEntries(reads.flatMap((r) => (r.storage ? [[r.node, r.storage]] : []))),
    };
  }

  /** Snapshot of etcd into the backups directory, named by cluster, node and time. */
  async function takeEtcdSnapshot(input: {
    cluster: string;
  }): Promise<{ path: string; node: string; sizeBytes: number; sha256: string }> {
    const c = cluster(input.cluster);
    const dir = c.resolvePath(c.inventory.backups.directory);
    await mkdir(dir, { recursive: true });
    let last = '';
    // Only from a node whose etcd answers: one whose etcd is down would hold the call for 5 minutes.
    const reads = await etcdStatusByNode(c);
    const answered = answeredVotersFirst(reads);
    if (answered.length === 0)
      throw retryable(
        'TalosUnavailable',
        `no control-plane node of ${c.name} can take an etcd snapshot: no etcd answered (${readErrors(reads)}); retrying`,
      );
    for (const node of answered.map((name) => c.node(name))) {
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      const path = join(dir, `etcd-${c.name}-${node.name}-${stamp}.db`);
      const result = await talosctl(deps, c, ['-n', node.ip, 'etcd', 'snapshot', path], {
        timeoutMs: 300_000,
      });
      if (result.exitCode === 0) {
        const body = await readFile(path);
        return {
          path,
          node: node.name,
          sizeBytes: (await stat(path)).size,
          sha256: createHash('sha256').update(body).digest('hex'),
        };
      }
      last = tail(result.stderr, 3);
    }
    throw retryable(
      'TalosUnavailable',
      `no control-plane node of ${c.name} could take an etcd snapshot: ${last}`,
    );
  }

  /**
   * Takes a control-plane node out of etcd before its VM is destroyed; harmless when it already left.
   * `vmGone`: its VM is destroyed, so another member removes it at once (asking the node to leave
   * would wait for an address that no longer answers).
   */
  async function leaveEtcd(input: {
    cluster: string;
    node: string;
    vmGone?: boolean;
  }): Promise<{ left: boolean }> {
    const c = cluster(input.cluster);
    const node = c.node(input.node);
    const [first, ...rest] = controllers(c).filter((n) => n.name !== node.name);
    if (!first)
      throw nonRetryable('CommandFailed', `removing ${node.name} from etcd: no other control-plane node`);
    const members = await listEtcdMembers(c, node.name);
    const member = members.find((m) => m.node === node.name);
    if (!member) return { left: false };
    if (!input.vmGone) {
      const leave = await talosctl(deps, c, ['-n', node.ip, 'etcd', 'leave'], { timeoutMs: 120_000 });
      if (leave.exitCode === 0) return { left: true };
    }
    // A node that cannot leave by itself (its etcd is down, its VM gone) is removed by another member:
    // each in turn, as one of them may be the sick one. The last refusal is the one reported.
    const removeVia = (via: typeof first) =>
      talosctl(deps, c, ['-n', via.ip, 'etcd', 'remove-member', member.id], { timeoutMs: 120_000 });
    let via = first;
    let result = await removeVia(via);
    for (const next of rest) {
      if (result.exitCode === 0) break;
      via = next;
      result = await removeVia(via);
    }
    if (result.exitCode === 0) return { left: true };
    return talosFailure(`removing etcd member ${member.id} (${node.name}) via ${via.name}`, result);
  }

  /**
   * Pets: `talosctl upgrade` to the installer of the target version, then proof that the node runs it
   * (Talos's A/B scheme boots the old version when the new one fails, and reports success anyway).
   */
  async function upgradeNodeInPlace(input: {
    cluster: string;
    node: string;
    version: string;
    timeoutMinutes?: number;
    /** Talos's legacy upgrade API even on 1.13 nodes: it applies machine.install.extraKernelArgs. */
    legacy?: boolean;
    /** A call Talos had not answered when the wait ran out fails at once (UpgradeUnanswered), not retried. */
    reportUnanswered?: boolean;
  }): Promise<{ alreadyAt: boolean; image: string }> {
    const c = cluster(input.cluster);
    const node = c.node(input.node);
    const image = installerImage(c.inventory, node, input.version);
    const current = await getTalosVersion(input).catch(() => undefined);
    if (current === input.version) return { alreadyAt: true, image };
    heartbeat({ node: node.name, step: 'upgrading', image });
    // --wait lasts until the node is back and Ready (machined's nodeReady condition): as long as the
    // policy gives a node to turn Ready, unless the caller says otherwise.
    const timeoutMs =
      input.timeoutMinutes !== undefined
        ? input.timeoutMinutes * 60_000
        : c.inventory.policy.nodeReadyTimeout;
    const timeout = talosctlDuration(timeoutMs);
    // No --preserve: Talos keeps /var on upgrade since 1.8 anyway, and from 1.12.9 the flag makes
    // the server skip its etcd checks, which are a second gate behind ours.
    const result = await settlingOnCancel(deps, c, node, timeoutMs, () =>
      talosctl(
        deps,
        c,
        // --drain=false: on Talos 1.13+ talosctl would drain the node itself; ours already did.
        [
          '-n',
          node.ip,
          'upgrade',
          '--image',
          image,
          '--drain=false',
          ...(input.legacy ? ['--legacy'] : []),
          '--wait',
          '--timeout',
          timeout,
        ],
        {
          timeoutMs: timeoutMs + 60_000,
          progress: (line) => ({ node: node.name, step: 'upgrading', image, talosctl: line }),
        },
      ),
    );
    if (result.exitCode !== 0) {
      const why = tail(result.stderr, 3);
      switch (classifyUpgradeFailure(result.stderr)) {
        case 'quorum':
          throw nonRetryable(
            'QuorumAtRisk',
            `Talos refused to upgrade ${node.name}: ${why}. Check etcd with talosctl etcd status.`,
          );
        case 'image':
          throw nonRetryable(
            'ImageMissing',
            `${node.name}: the installer ${image} cannot be pulled (${why}). Check the schematic id and the version.`,
          );
        case 'registry':
          throw registryGaveUp(node.name, image, pullGaveUp(result.stderr) ?? why);
        case 'unanswered': {
          // Before it answers, the call pulls the installer (a controller's also checks etcd): nothing
          // was installed as far as talosctl saw. The forward step decides how often to ask again; an
          // undo keeps its patience.
          const pending = `Talos did not answer the upgrade call to ${input.version} within ${timeout}: it was still pulling the installer ${image}${node.role === 'controlplane' ? ' or checking etcd' : ''}, and nothing was installed as far as talosctl saw`;
          if (input.reportUnanswered) throw nonRetryable('UpgradeUnanswered', `${node.name}: ${pending}`);
          throw retryable('TalosUnavailable', `${node.name}: ${pending}; retrying`);
        }
        case 'sequence':
          throw nonRetryable(
            'CommandFailed',
            `Talos's upgrade sequence to ${input.version} failed on ${node.name}, which reboots into the version it ran: ${/sequence failed: (.*)$/.exec(joinErrorSets(result.stderr).trim())?.[1] ?? why}. The installer's own words are on the node's console (talosctl -n ${node.ip} dmesg)`,
          );
        case 'unavailable':
          throw retryable(
            'TalosUnavailable',
            `${node.name} did not finish its upgrade to ${input.version} within ${timeout} (${why || 'no output'}); retrying`,
          );
        default:
          talosFailure(`upgrading ${node.name} to ${input.version}`, result);
      }
    }
    const after = await waitForTalosVersion(c, node);
    if (after !== input.version) {
      throw nonRetryable(
        'VersionMismatch',
        `${node.name} runs Talos ${after} after the upgrade to ${input.version}: the new version failed to boot and Talos fell back to the old one (A/B). Check the installer ${image}.`,
        { node: node.name, expected: input.version, actual: after },
      );
    }
    return { alreadyAt: false, image };
  }

  /** The version a rebooting node reports once its API answers again. */
  async function waitForTalosVersion(
    c: ClusterHandle,
    node: InventoryNode,
    timeoutMs = 600_000,
  ): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const result = await talosctl(deps, c, ['-n', node.ip, 'version'], { timeoutMs: 30_000 });
      const tag = result.exitCode === 0 ? parseServerTag(result.stdout) : undefined;
      if (tag) return tag;
      if (!isUnavailable(result) && result.exitCode !== 0)
        talosFailure(`reading the Talos version of ${node.name}`, result);
      if (Date.now() > deadline)
        throw retryable(
          'TalosUnavailable',
          `${node.name} did not answer after its reboot within ${timeoutMs / 60_000} min`,
        );
      heartbeat({ node: node.name, step: 'waiting for the Talos API' });
      await sleep(deps.pollIntervalMs ?? 2000);
    }
  }

  /** The NICs the VM really has against the inventory: count, names and VLAN ids. */
  async function checkNodeNics(input: { cluster: string; node: string }): Promise<{ nics: string[] }> {
    const c = cluster(input.cluster);
    const node = c.node(input.node);
    const result = await talosctl(deps, c, ['-n', node.ip, 'get', 'links', '-o', 'json'], {
      timeoutMs: 30_000,
    });
    if (result.exitCode !== 0) talosFailure(`reading the links of ${node.name}`, result);
    const { physical, vlans, ether: found } = linkNics(parseJsonStream<TalosLink>(result.stdout));
    const problems: string[] = [];
    for (const nic of node.nics) {
      if (!physical.includes(nic.name))
        problems.push(`${nic.name}${nic.vlan === 'native' ? '' : ` (VLAN ${nic.vlan})`} is missing`);
      else if (nic.vlan !== 'native' && !vlans.get(nic.name)?.includes(nic.vlan))
        problems.push(
          `${nic.name} has no VLAN ${nic.vlan} (found ${vlans.get(nic.name)?.join(', ') ?? 'none'})`,
        );
    }
    const extra = physical.filter((name) => !node.nics.some((nic) => nic.name === name));
    if (extra.length) problems.push(`unexpected NICs ${extra.join(', ')}`);
    if (problems.length) {
      throw nonRetryable(
        'NicMismatch',
        `${node.name}: ${problems.join('; ')} (expected ${node.nics.length} NICs, found ${found.join(', ') || 'none'}). Check the VM's network devices in Terraform (${node.terraformAddress ?? 'its Proxmox VM'}).`,
        { node: node.name, problems },
      );
    }
    return { nics: found };
  }

  /**
   * The lines of upgrade-k8s's log a heartbeat may show: its steps (` > "<node>": pre-pulling …`,
   * `updating manifests`), not the manifests' diffs between them, which can hold a Secret's data.
   */
  function statusLine(line: string): string {
    return /^\s?[<>] |^[a-z]/.test(line) && !/^\s?[<>] .*\bSecret\b/.test(line) ? line.slice(0, 200) : '…';
  }

  /**
   * A dry run that stopped at its pre-pull (talosctl's prePullImages, pkg/cluster/kubernetes/
   * talos_managed.go at v1.13.8: every control-plane image on every controller, the kubelet's on every
   * node, before any component moves): the image and the node named, final either way.
   */
  function prePullFailure(c: ClusterHandle, version: string, stderr: string): void {
    const failed = /error pre-pulling (\S+) on (\S+): (.*)$/m.exec(joinErrorSets(stderr));
    if (!failed) return;
    const [, image = '', ip = '', cause = ''] = failed;
    const node = c.inventory.nodes.find((n) => n.ip === ip)?.name ?? ip;
    const gaveUp = pullGaveUp(stderr);
    if (gaveUp)
      throw nonRetryable(
        'RegistryUnavailable',
        `Kubernetes ${version} on ${c.name}: ${node} retried the pull of ${image} for Talos's whole budget (20 minutes) and gave up (${gaveUp}). The dry run pulls every image before any component moves: nothing was changed. Check the registry or the mirror the nodes pull from, then run the upgrade again.`,
        { node, image },
      );
    if (/code = NotFound/.test(cause))
      throw nonRetryable(
        'ImageMissing',
        `Kubernetes ${version} on ${c.name}: ${node} cannot pull ${image}: the registry (or the mirror the nodes pull from) does not have it. The dry run pulls every image before any component moves: nothing was changed. Check the version, or the nodes' registry mirrors, then run the upgrade again.`,
        { node, image },
      );
  }

  /**
   * Talos's add-ons (talosAddons.ts) all available, within `settleMs`: else AddonsNotAvailable, before
   * upgrade-k8s starts. The pods of a node just rebooted or rebuilt come back Ready some seconds after
   * the node does (30-90 s on real hardware), so a step after a hop gives them time.
   */
  async function talosAddonsAvailable(c: ClusterHandle, version: string, settleMs: number): Promise<void> {
    const deadline = Date.now() + settleMs;
    let addons = await talosAddonsNotAvailable(c.kc);
    while (addons.length && Date.now() < deadline) {
      heartbeat({ step: "waiting for Talos's add-ons", to: version, addons });
      await sleep(5000);
      addons = await talosAddonsNotAvailable(c.kc);
    }
    if (addons.length)
      throw nonRetryable(
        'AddonsNotAvailable',
        `Kubernetes ${version} on ${c.name}: Talos's add-ons are not all available${settleMs ? ` after ${Math.round(settleMs / 60_000)} minutes` : ''}: ${addons.join('; ')}. talosctl upgrade-k8s updates them only after it has moved the control plane and every kubelet, then waits for them to roll out, and fails half-done if they do not. upgrade-k8s was not started: no Kubernetes component was changed. Bring them back first (kubectl -n kube-system get pods -o wide), then run the upgrade again.`,
        { addons },
      );
  }

  /**
   * Talos's add-ons available (talosAddonsAvailable), then `talosctl upgrade-k8s --dry-run`: what the running Talos supports, then every component's image
   * pulled on every node (unless `pull: false`, the product's own dry run, which changes nothing on
   * the nodes), then the static pods, the kubelets and the bootstrap manifests compared. Nothing moves.
   */
  async function checkKubernetesUpgrade(input: {
    cluster: string;
    version: string;
    pull?: boolean;
    /** How long Talos's add-ons may take to be available again (after a hop's last reboot). */
    settleMs?: number;
  }): Promise<{ summary: string }> {
    const c = cluster(input.cluster);
    const via = controllers(c)[0];
    if (!via) throw nonRetryable('ValidationFailed', `cluster ${c.name} has no control-plane node`);
    const pull = input.pull !== false;
    await talosAddonsAvailable(c, input.version, input.settleMs ?? 0);
    const dry = await talosctl(
      deps,
      c,
      [
        '-n',
        via.ip,
        'upgrade-k8s',
        '--to',
        input.version,
        '--dry-run',
        ...(pull ? [] : ['--pre-pull-images=false']),
      ],
      {
        timeoutMs: DRY_RUN_MS,
        // The pull goes node by node, image by image: minutes on a real cluster.
        progress: (line) => ({
          step: 'upgrade-k8s --dry-run',
          to: input.version,
          talosctl: statusLine(line),
        }),
      },
    );
    if (dry.timedOut) {
      const last = [...dry.stdout.matchAll(/> "([^"]+)": pre-pulling (\S+)/g)].at(-1);
      throw nonRetryable(
        'RegistryUnavailable',
        `Kubernetes ${input.version} on ${c.name}: the upgrade-k8s dry run did not end within ${DRY_RUN_MS / 60_000} minutes${last ? `, still pulling ${last[2]} on ${last[1]}` : ''}. It pulls every image before any component moves: nothing was changed. Check the registry or the mirror the nodes pull from, then run the upgrade again.`,
      );
    }
    if (dry.exitCode !== 0) {
      prePullFailure(c, input.version, dry.stderr);
      if (
        /unsupported upgrade path|too (new|old) to be used with Talos|compatibility with version .* is not supported/.test(
          dry.stderr,
        )
      )
        throw nonRetryable(
          'UnsupportedUpgrade',
          `Kubernetes ${input.version} on ${c.name}: ${tail(dry.stderr, 2)}`,
        );
      talosFailure(`the upgrade-k8s dry run on ${c.name}`, dry);
    }
    // A node that answers Unimplemented is skipped (talosctl says `not implemented, skipping`).
    const pulled =
      (dry.stdout.match(/: pre-pulling /g) ?? []).length -
      (dry.stdout.match(/: not implemented, skipping/g) ?? []).length;
    // Only the summary goes back: the dry run's output holds the manifests' diffs, Secrets included.
    return {
      summary: `Kubernetes ${input.version}: upgrade-k8s dry run passed${pull ? ` (${pulled} images pulled on the nodes)` : ' (images not pulled: a dry run changes nothing on the nodes)'}`,
    };
  }

  /**
   * `talosctl upgrade-k8s`: a dry run first, then the real one; one minor at a time. Both fit in the
   * activity's 75 minutes (DRY_RUN_MS and UPGRADE_K8S_MS).
   */
  async function upgradeKubernetes(input: {
    cluster: string;
    version: string;
  }): Promise<{ summary: string }> {
    const c = cluster(input.cluster);
    await checkKubernetesUpgrade({ ...input, settleMs: ADDONS_SETTLE_MS });
    const via = controllers(c)[0] as InventoryNode;
    const real = await talosctl(deps, c, ['-n', via.ip, 'upgrade-k8s', '--to', input.version], {
      timeoutMs: UPGRADE_K8S_MS,
      // Stopped half-way, upgrade-k8s leaves the control plane on mixed versions with nothing to undo
      // it: a cancel lets it finish.
      onCancel: 'ignore',
      progress: (line) => ({ step: 'upgrade-k8s', to: input.version, talosctl: statusLine(line) }),
    });
    if (real.exitCode !== 0) talosFailure(`upgrading Kubernetes on ${c.name} to ${input.version}`, real);
    return { summary: `Kubernetes ${input.version} on ${c.name}` };
  }

  return {
    getTalosVersion,
    getTalosVersions,
    checkEtcdHealth,
    takeEtcdSnapshot,
    leaveEtcd,
    upgradeNodeInPlace,
    checkNodeNics,
    checkKubernetesUpgrade,
    upgradeKubernetes,
  };
}
