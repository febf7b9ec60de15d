import type { ActivityDeps, ClusterHandle } from './deps.js';
import { nonRetryable, retryable, tail } from './errors.js';
import { parseJsonStream } from './jsonStream.js';
import { runCommand, type CommandResult, type RunOptions } from './runCommand.js';

/** A Talos API that cannot be reached right now: the node is rebooting, or the network blinked. */
export function isUnavailable(result: CommandResult): boolean {
  return /code = Unavailable|connection refused|no route to host|i\/o timeout|context deadline exceeded/.test(
    result.stderr,
  );
}

/**
 * A Talos 1.11 or 1.12 node in maintenance mode answering `get --insecure`: talosctl 1.14 asks its Version
 * first (cmd/talosctl/pkg/talos/helpers/checks.go at v1.14.1), which that release's maintenance server
 * refuses to a peer without the admin role in these words (internal/app/maintenance/server.go at v1.11.3
 * and v1.12.5). Only such a server says it; from 1.13 the stage is read as it is.
 */
export function isMaintenanceRefusal(result: CommandResult): boolean {
  return /error getting server version: rpc error: code = Unimplemented desc = API is not implemented in maintenance mode/.test(
    result.stderr,
  );
}

/**
 * The installer's last line before it failed, from `talosctl upgrade`'s stderr: the stream's text before
 * `<node>: Exit code: N` (cmd/talosctl/cmd/talos/lifecycle at v1.14.1), without the node's prefix (each
 * line has it when the server streams whole lines, as 1.14 does; only the chunk's first when it streams
 * 512-byte chunks, as 1.13 does) or a log line's time. The installer's own reason comes last (its error
 * on stderr, such as a pre-flight's `host version … is too old …`); talosctl's closing lines say only the code.
 */
export function installerWords(stderr: string): string | undefined {
  const lines = stderr.split('\n').map((line) => line.trimEnd());
  const end = lines.findIndex((line) => /^\S+: Exit code: \d+$/.test(line));
  const prefix = end < 0 ? '' : (lines[end]?.slice(0, lines[end].indexOf(': ') + 2) ?? '');
  for (let i = end - 1; i >= 0; i--) {
    const line = lines[i] ?? '';
    // A blank installer line is the bare prefix once talosctl's line is trimmed.
    const words = (line.startsWith(prefix) || `${line} ` === prefix ? line.slice(prefix.length) : line)
      .replace(/^\d{4}\/\d{2}\/\d{2} \d{2}:\d{2}:\d{2} /, '')
      .trim();
    if (words) return words;
  }
  return undefined;
}

/** The server's tag in `talosctl version` output ("1.11.3"), if a server answered. */
export function parseServerTag(stdout: string): string | undefined {
  const server = stdout.slice(stdout.indexOf('Server:'));
  return /Tag:\s+v?(\S+)/.exec(server)?.[1];
}

/** The machine stage (booting, maintenance, running, rebooting, upgrading) in `get machinestatus -o json`. */
export function parseMachineStage(stdout: string): string | undefined {
  return parseJsonStream<{ spec?: { stage?: string } }>(stdout)[0]?.spec?.stage;
}

/** A duration as talosctl's --timeout takes it: whole seconds, at least one. */
export function talosctlDuration(ms: number): string {
  return `${Math.max(1, Math.ceil(ms / 1000))}s`;
}

/** Runs talosctl against one cluster: its talosconfig is passed as a file path, never its content. */
export function talosctl(
  deps: ActivityDeps,
  cluster: ClusterHandle,
  args: string[],
  options: RunOptions = {},
): Promise<CommandResult> {
  return runCommand(deps.talosctl, ['--talosconfig', cluster.talosconfig, ...args], options);
}

/**
 * A reboot's wait that failed: as talosFailure, except that a PermissionDenied is retried. Others upgrading
 * to Talos 1.14 saw apid deny calls for a moment while the node came back from its reboot (tuppr pull
 * request 453; no reading of Talos's source explains it yet, and the lab does not play it). The retry reads
 * the node's version and boot id first, so a node that came back is not rebooted again; a denial that
 * lasts through the retries is a talosconfig without the role, and says so.
 */
export function rebootFailure(what: string, result: CommandResult): never {
  if (/code = PermissionDenied/.test(result.stderr))
    throw retryable(
      'TalosUnavailable',
      `${what}: the Talos API denied the wait (${tail(result.stderr, 1)}), as Talos 1.14 does for a moment around a reboot; retrying (a denial that lasts: the talosconfig needs the os:admin role)`,
    );
  talosFailure(what, result);
}

/** Throws the right failure for a talosctl call that failed: retryable when the node is unreachable. */
export function talosFailure(what: string, result: CommandResult): never {
  const detail = tail(result.stderr || result.stdout, 5);
  if (isUnavailable(result))
    throw retryable('TalosUnavailable', `${what}: the Talos API did not answer (${detail}); retrying`);
  throw nonRetryable('CommandFailed', `${what} failed: ${detail}`);
}

/**
 * A pull's failure as Talos reports it once its retries end: go-retry's set, `N error(s) occurred:`
 * and each distinct error on a line of its own after a tab (internal/pkg/containers/image/image.go,
 * v1.11.3 to v1.13.8). Joined into the line that holds the set's head, `; ` between the errors.
 */
export function joinErrorSets(output: string): string {
  return output.replace(
    /error\(s\) occurred:((?:\n\t[^\n]*)+)/g,
    (_set, errors: string) => `error(s) occurred: ${errors.split('\n\t').filter(Boolean).join('; ')}`,
  );
}

/**
 * The distinct errors of a pull Talos gave up on after its whole budget (20 minutes, every error but
 * NotFound retried): its error set ends in `timeout`. Undefined for any other failure.
 */
export function pullGaveUp(output: string): string | undefined {
  const set = /error\(s\) occurred: (.*); timeout$/m.exec(joinErrorSets(output));
  return set?.[1];
}

/** A pull Talos retried for its whole budget: nothing was installed, and another try now would wait as long. */
export function registryGaveUp(node: string, image: string, errors: string): Error {
  return nonRetryable(
    'RegistryUnavailable',
    `${node}: Talos retried the pull of ${image} for its whole budget (20 minutes) and gave up (${errors}); nothing was installed. Check the registry or the mirror the nodes pull from, then run the upgrade again.`,
  );
}
