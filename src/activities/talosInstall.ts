import { expectedKernelArgs, installerImage, missingKernelArgs, usesLifecycleApi } from '../domain/index.js';
import { currentActivity, heartbeat } from './activityContext.js';
import type { ActivityDeps, ClusterHandle } from './deps.js';
import { nonRetryable, retryable, tail } from './errors.js';
import { parseJsonStream } from './jsonStream.js';
import { settlingOnCancel } from './settleAfterCancel.js';
import { isUnavailable, parseServerTag, talosctl, talosctlDuration, talosFailure } from './talosctl.js';

/** What a read's heartbeats say: the activity's own details, so a slow read never drops them. */
type ReadProgress = { progress?: () => unknown };

async function runningVersion(
  deps: ActivityDeps,
  c: ClusterHandle,
  ip: string,
  read: ReadProgress = {},
): Promise<string | undefined> {
  const result = await talosctl(deps, c, ['-n', ip, 'version'], { timeoutMs: 30_000, ...read });
  return result.exitCode === 0 ? parseServerTag(result.stdout) : undefined;
}

function fellBack(node: string, version: string, actual: string | undefined): Error {
  return nonRetryable(
    'VersionMismatch',
    `${node} runs Talos ${actual ?? 'unknown'} after its reboot into ${version}: the new version failed to boot and Talos fell back to the old one (A/B).`,
    { node, expected: version, actual },
  );
}

/** The node's boot id: it changes with every boot, so a retry can tell whether its reboot happened. */
async function bootId(
  deps: ActivityDeps,
  c: ClusterHandle,
  ip: string,
  read: ReadProgress,
): Promise<string | undefined> {
  const result = await talosctl(deps, c, ['-n', ip, 'read', '/proc/sys/kernel/random/boot_id'], {
    timeoutMs: 30_000,
    ...read,
  });
  return result.exitCode === 0 ? result.stdout.trim() || undefined : undefined;
}

/**
 * Talos 1.13+: the installer is pulled and written to the other boot slot while the node keeps
 * serving (`talosctl upgrade --no-reboot`), and a reboot starts it. The product installs before it
 * cordons and drains, so a node is unavailable only for the drain and the reboot; talosctl's own
 * drain never runs, ours (PDB-aware, with the policy's timeout) does.
 */
export function talosInstallActivities(deps: ActivityDeps, cluster: (name: string) => ClusterHandle) {
  /**
   * Installs `version` for the next boot; a node outside 1.13.x has no such step (its upgrade
   * reboots). `reinstall` writes the version the node runs into the other slot, replacing an install
   * that must not boot; on a node that already runs something else (its rollback was refused) it does
   * nothing, since that would stage a downgrade for whatever reboot comes next.
   */
  async function installUpgrade(input: {
    cluster: string;
    node: string;
    version: string;
    reinstall?: boolean;
  }): Promise<{ installed: boolean; image: string; running?: string }> {
    const c = cluster(input.cluster);
    const node = c.node(input.node);
    const image = installerImage(c.inventory, node, input.version);
    const running = await runningVersion(deps, c, node.ip);
    if (!running)
      throw retryable('TalosUnavailable', `${node.name}: the Talos API did not answer before the install`);
    const pointless = input.reinstall ? running !== input.version : running === input.version;
    if (pointless || !usesLifecycleApi(running)) return { installed: false, image, running };
    heartbeat({ node: node.name, step: 'installing', image });
    const result = await talosctl(deps, c, ['-n', node.ip, 'upgrade', '--image', image, '--no-reboot'], {
      timeoutMs: c.inventory.policy.nodeReadyTimeout + 60_000,
      progress: (line) => ({ node: node.name, step: 'installing', image, talosctl: line }),
    });
    if (result.exitCode !== 0) {
      const why = tail(result.stderr, 3);
      if (/error pulling upgrade image.*code = NotFound/.test(result.stderr))
        throw nonRetryable(
          'ImageMissing',
          `${node.name}: the installer ${image} cannot be pulled (${why}). Check the schematic id and the version.`,
        );
      if (/another installation\/upgrade is already in progress/.test(result.stderr))
        throw retryable('TalosUnavailable', `${node.name} is already installing; retrying (${why})`);
      talosFailure(`installing Talos ${input.version} on ${node.name}`, result);
    }
    return { installed: true, image, running };
  }

  /**
   * Reboots into what was installed and proves the node runs it: Talos's A/B scheme boots the old
   * slot when the new one fails. A node already at the version is not rebooted again (a retry).
   */
  async function rebootIntoUpgrade(input: {
    cluster: string;
    node: string;
    version: string;
  }): Promise<{ alreadyAt: boolean }> {
    const c = cluster(input.cluster);
    const node = c.node(input.node);
    // The boot id an earlier attempt saw before its reboot travels in every heartbeat of this activity
    // (Temporal hands the last one to the retry): a retry whose node has booted since must not reboot
    // it again, as that reboot would skip the quorum gate the workflow took before this step.
    const earlier = (currentActivity()?.info.heartbeatDetails as { bootIdBefore?: string } | undefined)
      ?.bootIdBefore;
    const details: Record<string, unknown> = {
      node: node.name,
      step: 'rebooting',
      version: input.version,
      ...(earlier ? { bootIdBefore: earlier } : {}),
    };
    const read = { progress: () => details };
    const running = await runningVersion(deps, c, node.ip, read);
    if (running === input.version) return { alreadyAt: true };
    const now = await bootId(deps, c, node.ip, read);
    // Without both, a retry could not tell a fall-back from a reboot that never happened.
    if (!running || !now)
      throw retryable(
        'TalosUnavailable',
        `${node.name} did not answer for its version and boot id before its reboot into ${input.version}; retrying`,
      );
    if (earlier && earlier !== now) throw fellBack(node.name, input.version, running);
    details.bootIdBefore = earlier ?? now;
    heartbeat(details);
    const timeout = talosctlDuration(c.inventory.policy.nodeReadyTimeout);
    const result = await settlingOnCancel(deps, c, node, c.inventory.policy.nodeReadyTimeout, () =>
      talosctl(deps, c, ['-n', node.ip, 'reboot', '--wait', '--timeout', timeout], {
        timeoutMs: c.inventory.policy.nodeReadyTimeout + 60_000,
        progress: (line) => ({ ...details, talosctl: line }),
      }),
    );
    if (result.exitCode !== 0) {
      if (isUnavailable(result) || /unavailable, retrying|\btimeout$/.test(tail(result.stderr, 1)))
        throw retryable(
          'TalosUnavailable',
          `${node.name} did not come back from its reboot into ${input.version} within ${timeout} (${tail(result.stderr, 2) || 'no output'}); retrying`,
        );
      talosFailure(`rebooting ${node.name} into ${input.version}`, result);
    }
    const after = await runningVersion(deps, c, node.ip, read);
    // Unknown is not a fall-back: the retry finds the new boot id and reads the version again.
    if (after === undefined)
      throw retryable(
        'TalosUnavailable',
        `${node.name} rebooted but did not answer for its version; retrying`,
      );
    if (after !== input.version) throw fellBack(node.name, input.version, after);
    return { alreadyAt: false };
  }

  /** The running kernel command line holds every argument the inventory expects for the node. */
  async function checkKernelArgs(input: { cluster: string; node: string }): Promise<{ checked: string[] }> {
    const c = cluster(input.cluster);
    const node = c.node(input.node);
    const expected = expectedKernelArgs(c.inventory, node);
    if (expected.length === 0) return { checked: [] };
    const result = await talosctl(deps, c, ['-n', node.ip, 'get', 'kernelcmdlines', '-o', 'json'], {
      timeoutMs: 30_000,
    });
    if (result.exitCode !== 0) talosFailure(`reading the kernel command line of ${node.name}`, result);
    const cmdline = parseJsonStream<{ spec?: { cmdline?: string } }>(result.stdout)[0]?.spec?.cmdline;
    if (cmdline === undefined)
      throw nonRetryable(
        'CommandFailed',
        `talosctl get kernelcmdlines on ${node.name} answered without a command line: ${tail(result.stdout, 3)}`,
      );
    const missing = missingKernelArgs(cmdline, expected);
    if (missing.length)
      throw nonRetryable(
        'KernelArgsMissing',
        `${node.name} booted without the kernel arguments ${missing.join(' ')} (command line: ${cmdline}). Talos 1.13's install does not apply machine.install.extraKernelArgs on GRUB nodes whose config predates 1.12; set machine.install.grubUseUKICmdline or recreate the node (cattle).`,
        { node: node.name, missing },
      );
    return { checked: expected };
  }

  return { installUpgrade, rebootIntoUpgrade, checkKernelArgs };
}
