import {
  expectedKernelArgs,
  installerImage,
  missingKernelArgs,
  usesLifecycleApi,
  type InventoryNode,
} from '../domain/index.js';
import { currentActivity, heartbeat } from './activityContext.js';
import type { ActivityDeps, ClusterHandle } from './deps.js';
import { nonRetryable, retryable, tail } from './errors.js';
import { parseJsonStream } from './jsonStream.js';
import { settlingOnCancel } from './settleAfterCancel.js';
import {
  installerWords,
  isUnavailable,
  parseServerTag,
  pullGaveUp,
  rebootFailure,
  registryGaveUp,
  talosctl,
  talosctlDuration,
  talosFailure,
} from './talosctl.js';

/**
 * Talos retries a pull for up to 20 minutes itself, every error but NotFound (at v1.13.8:
 * internal/app/images/images.go:97-103, internal/pkg/containers/image/image.go:37): a minute more
 * for its answer.
 */
const PULL_TIMEOUT_MS = 21 * 60_000;

/**
 * talosctl's words for a stream that broke after the install was asked for, or for machined's lock
 * held by an install already running (internal/app/lifecycle/lifecycle.go: TryLock).
 */
const ANSWER_LOST =
  /error reading from server|\bEOF\b|transport is closing|code = Canceled|context canceled|another installation\/upgrade is already in progress/;

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

function fellBack(node: string, version: string, actual: string | undefined, unconfirmed = false): Error {
  const why = unconfirmed
    ? `either ${version} failed to boot and Talos fell back (A/B), or the install whose answer was lost never wrote its slot; read the node's console for a failed boot, and run the upgrade again`
    : 'the new version failed to boot and Talos fell back to the old one (A/B)';
  return nonRetryable(
    'VersionMismatch',
    `${node} runs Talos ${actual ?? 'unknown'} after its reboot into ${version}: ${why}.`,
    { node, expected: version, actual },
  );
}

function imageMissing(node: InventoryNode, image: string, why: string): Error {
  return nonRetryable(
    'ImageMissing',
    `${node.name}: the installer ${image} cannot be pulled (${why}). Check the schematic id and the version.`,
  );
}

/** What an earlier attempt of the same activity left in its heartbeats (Temporal hands the last one on). */
function earlierDetails(): { bootIdBefore?: string; installedOnBoot?: string } {
  return (currentActivity()?.info.heartbeatDetails ?? {}) as {
    bootIdBefore?: string;
    installedOnBoot?: string;
  };
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
   *
   * Talos writes the slot after the bootloader's default, not after the one it runs (see
   * lab/daemon/bootSlots.ts): a second install of the new version before a reboot writes over the
   * running slot and leaves nothing to fall back to. So it installs at most once per boot: an install
   * whose answer is lost (the stream broke, talosctl was stopped, another install holds the node's
   * lock) and a retry on the boot an earlier attempt installed on are `unconfirmed`, not repeated.
   * The reboot then tells (rebootIntoUpgrade), and a node that comes back on its old version is
   * installed again on its new boot, where that is safe.
   */
  async function installUpgrade(input: {
    cluster: string;
    node: string;
    version: string;
    reinstall?: boolean;
    /** A reinstall undoes the install made on this boot: once the node has booted since, it is gone. */
    installedOnBoot?: string;
  }): Promise<{
    installed: boolean;
    image: string;
    running?: string;
    unconfirmed?: boolean;
    bootId?: string;
  }> {
    const c = cluster(input.cluster);
    const node = c.node(input.node);
    const image = installerImage(c.inventory, node, input.version);
    const earlier = input.reinstall ? undefined : earlierDetails().installedOnBoot;
    const details: Record<string, unknown> = {
      node: node.name,
      step: 'installing',
      image,
      ...(earlier ? { installedOnBoot: earlier } : {}),
    };
    const read = { progress: () => details };
    const running = await runningVersion(deps, c, node.ip, read);
    if (!running)
      throw retryable('TalosUnavailable', `${node.name}: the Talos API did not answer before the install`);
    const pointless = input.reinstall ? running !== input.version : running === input.version;
    if (pointless || !usesLifecycleApi(running)) return { installed: false, image, running };
    // Writing the running version again changes nothing the node boots: a reinstall may repeat, and
    // must, when its answer was lost (else the new version might still be what the next boot starts).
    if (input.reinstall) {
      // The node booted since the install (into it, or back from it, or rolled back with the legacy
      // upgrade): the bootloader's default is the running slot again, and a reinstall would write the
      // other one for nothing — on GRUB nodes whose 1.13 install drops kernel arguments, a slot
      // without them, which the next boot would start.
      if (input.installedOnBoot) {
        const now = await bootId(deps, c, node.ip, read);
        if (!now)
          throw retryable('TalosUnavailable', `${node.name}: the Talos API did not answer for its boot id`);
        if (now !== input.installedOnBoot) return { installed: false, image, running };
      }
      if (!(await install(c, node, image, input.version, details)))
        throw retryable(
          'TalosUnavailable',
          `${node.name}: the answer of the reinstall of ${input.version} was lost; reinstalling`,
        );
      return { installed: true, image, running };
    }
    const boot = await bootId(deps, c, node.ip, read);
    if (!boot)
      throw retryable(
        'TalosUnavailable',
        `${node.name}: the Talos API did not answer for its boot id before the install`,
      );
    if (earlier === boot) return { installed: true, image, running, bootId: boot, unconfirmed: true };
    await pull(c, node, image, details);
    details.installedOnBoot = boot;
    heartbeat(details);
    const answered = await install(c, node, image, input.version, details);
    return { installed: true, image, running, bootId: boot, ...(answered ? {} : { unconfirmed: true }) };
  }

  /** The installer into the node's containerd; nothing is written to a slot yet, so a failure may be retried. */
  async function pull(
    c: ClusterHandle,
    node: InventoryNode,
    image: string,
    details: Record<string, unknown>,
  ) {
    heartbeat({ ...details, step: 'pulling' });
    const result = await talosctl(deps, c, ['-n', node.ip, 'image', 'pull', '--namespace', 'system', image], {
      timeoutMs: PULL_TIMEOUT_MS,
      progress: (line) => ({ ...details, step: 'pulling', talosctl: line }),
    });
    if (result.exitCode === 0) return;
    const why = tail(result.stderr, 3);
    if (/code = NotFound/.test(result.stderr)) throw imageMissing(node, image, why);
    const gaveUp = pullGaveUp(result.stderr);
    if (gaveUp) throw registryGaveUp(node.name, image, gaveUp);
    if (result.timedOut)
      throw retryable(
        'TalosUnavailable',
        `${node.name}: the pull of ${image} took over ${PULL_TIMEOUT_MS / 60_000} minutes; retrying`,
      );
    talosFailure(`pulling ${image} on ${node.name}`, result);
  }

  /**
   * The install itself: true when talosctl saw it end, false when the answer was lost and the slot
   * may or may not be written. An installer that ends with an error fails the step.
   */
  async function install(
    c: ClusterHandle,
    node: InventoryNode,
    image: string,
    version: string,
    details: Record<string, unknown>,
  ): Promise<boolean> {
    heartbeat(details);
    const result = await talosctl(deps, c, ['-n', node.ip, 'upgrade', '--image', image, '--no-reboot'], {
      timeoutMs: c.inventory.policy.nodeReadyTimeout + 60_000,
      progress: (line) => ({ ...details, talosctl: line }),
    });
    if (result.exitCode === 0) return true;
    const why = tail(result.stderr, 3);
    if (/error pulling upgrade image.*code = NotFound/.test(result.stderr))
      throw imageMissing(node, image, why);
    if (/upgrade failed with exit code/.test(result.stderr)) {
      const said = installerWords(result.stderr);
      throw nonRetryable(
        'CommandFailed',
        `the installer of Talos ${version} failed on ${node.name}, which still runs its old version and was not rebooted: ${said ? `${said}; ` : ''}${why}`,
      );
    }
    // The install may have begun and the answer is lost: the stream broke, talosctl was stopped at
    // its deadline, or another install holds the node's lock (machined's installer goes on without
    // its client). The slot may be written: never install again on this boot.
    const beforeInstall = /error pulling upgrade image|error checking Talos version/.test(result.stderr);
    if (!beforeInstall && (result.timedOut || ANSWER_LOST.test(result.stderr))) return false;
    // Anything else was refused before an install began (the pull or version check, a certificate, a
    // missing image, the API not reached): nothing was written, so a retry may install (the SDK
    // sends an attempt's last heartbeat with its failure, unthrottled).
    delete details.installedOnBoot;
    heartbeat(details);
    talosFailure(`installing Talos ${version} on ${node.name}`, result);
  }

  /**
   * Reboots into what was installed and proves the node runs it: Talos's A/B scheme boots the old
   * slot when the new one fails. A node already at the version is not rebooted again (a retry).
   * After an `unconfirmed` install a node back on its old version may never have had the new one
   * written: the first time, the answer says so (`notInstalled`) and the caller installs again;
   * `secondInstall` says that was done, and the old version is then a failure.
   */
  async function rebootIntoUpgrade(input: {
    cluster: string;
    node: string;
    version: string;
    unconfirmed?: boolean;
    secondInstall?: boolean;
  }): Promise<{ alreadyAt: boolean; notInstalled?: boolean }> {
    const c = cluster(input.cluster);
    const node = c.node(input.node);
    // The boot id an earlier attempt saw before its reboot travels in every heartbeat of this activity
    // (Temporal hands the last one to the retry): a retry whose node has booted since must not reboot
    // it again, as that reboot would skip the quorum gate the workflow took before this step.
    const earlier = earlierDetails().bootIdBefore;
    const details: Record<string, unknown> = {
      node: node.name,
      step: 'rebooting',
      version: input.version,
      ...(earlier ? { bootIdBefore: earlier } : {}),
    };
    const read = { progress: () => details };
    const stillOld = (actual: string | undefined) => {
      if (input.unconfirmed && !input.secondInstall) return { alreadyAt: false, notInstalled: true };
      throw fellBack(node.name, input.version, actual, input.unconfirmed);
    };
    const running = await runningVersion(deps, c, node.ip, read);
    if (running === input.version) return { alreadyAt: true };
    const now = await bootId(deps, c, node.ip, read);
    // Without both, a retry could not tell a fall-back from a reboot that never happened.
    if (!running || !now)
      throw retryable(
        'TalosUnavailable',
        `${node.name} did not answer for its version and boot id before its reboot into ${input.version}; retrying`,
      );
    if (earlier && earlier !== now) return stillOld(running);
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
      rebootFailure(`rebooting ${node.name} into ${input.version}`, result);
    }
    const after = await runningVersion(deps, c, node.ip, read);
    // Unknown is not a fall-back: the retry finds the new boot id and reads the version again.
    if (after === undefined)
      throw retryable(
        'TalosUnavailable',
        `${node.name} rebooted but did not answer for its version; retrying`,
      );
    if (after !== input.version) return stillOld(after);
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
        `${node.name} booted without the kernel arguments ${missing.join(' ')} (command line: ${cmdline}). Talos 1.13's install does not apply machine.install.extraKernelArgs on GRUB nodes whose config predates 1.12: put them in the node's schematic (customization.extraKernelArgs, which every installer and disk image of it carries) or set machine.install.grubUseUKICmdline.`,
        { node: node.name, missing },
      );
    return { checked: expected };
  }

  return { installUpgrade, rebootIntoUpgrade, checkKernelArgs };
}
