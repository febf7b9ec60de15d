import { readFile } from 'node:fs/promises';
import { parseAllDocuments } from 'yaml';
import { compareMinors, FAILURE, minorOf } from '../domain/index.js';
import type { ActivityDeps, ClusterHandle } from './deps.js';
import { sleep } from './activityContext.js';
import { nonRetryable, retryable, tail } from './errors.js';
import { isUnavailable, parseServerTag, talosctl, talosFailure } from './talosctl.js';

/** What each talosctl call of the step heartbeats (a retry reads the step's memo from it). */
export type Progress = { progress?: (lastLine: string) => unknown };

/** A file a patch writes with machine.files: where, how, and what it must hold. */
export interface PatchedFile {
  patch: string;
  path: string;
  op: string;
  content: string;
}

/**
 * Not a file Talos writes: its CRI customization part, which Talos 1.13 turns into an /etc file spec and
 * 1.14 into a CRICustomizationConfig merged into the CRI config, applied without a reboot
 * (v1alpha1_sequencer_tasks.go WriteUserFiles skips it at v1.14.1).
 */
const CRI_CUSTOMIZATION = '/etc/cri/conf.d/20-customization.part';

/**
 * The machine.files a patch's documents write (a strategic merge patch; a JSON patch's additions are not
 * read). Talos writes them only in its boot sequence (the WriteUserFiles task, v1alpha1_sequencer.go L228
 * at v1.13.8 and L246 at v1.14.1); Talos 1.11–1.13 refuse them in mode no-reboot, while 1.14 takes them
 * (AUTO is NO_REBOOT there, and nothing is checked) and writes them at whatever boot comes next.
 */
export function patchedFiles(patch: string, text: string): PatchedFile[] {
  return parseAllDocuments(text).flatMap((doc) => {
    const machine = (
      doc.toJS() as {
        machine?: { files?: Array<{ path?: unknown; op?: unknown; content?: unknown }> };
      } | null
    )?.machine;
    return (machine?.files ?? []).flatMap((file) =>
      typeof file.path === 'string' && file.path !== CRI_CUSTOMIZATION
        ? [
            {
              patch,
              path: file.path,
              op: typeof file.op === 'string' ? file.op : 'create',
              content: typeof file.content === 'string' ? file.content : '',
            },
          ]
        : [],
    );
  });
}

/** The files the patches write, read from the repository; a patch that cannot be read fails the step. */
export async function filesOfPatches(files: Array<{ name: string; path: string }>): Promise<PatchedFile[]> {
  const read = await Promise.all(
    files.map(async ({ name, path }) => {
      const text = await readFile(path, 'utf8').catch((error: unknown) => {
        throw nonRetryable(
          FAILURE.ValidationFailed,
          `the patch ${name} cannot be read (${String(error)}): nothing was applied`,
        );
      });
      return patchedFiles(name, text);
    }),
  );
  return read.flat();
}

/**
 * Whether the node runs Talos 1.14 or later, which takes machine.files live and writes them only at its
 * next boot (earlier releases refuse them live, so a live patch there changed no file).
 */
export async function writesFilesOnlyAtBoot(
  deps: ActivityDeps,
  c: ClusterHandle,
  node: { name: string; ip: string },
  read: Progress = {},
): Promise<boolean> {
  const result = await talosctl(deps, c, ['-n', node.ip, 'version'], { timeoutMs: 30_000, ...read });
  const running = result.exitCode === 0 ? parseServerTag(result.stdout) : undefined;
  if (!running) talosFailure(`reading the Talos version of ${node.name}`, result);
  return compareMinors(minorOf(running), '1.14') >= 0;
}

/**
 * Whether a file's content on the node (undefined: not there) is what the patch's write leaves: an append
 * is contained (Talos appends to what is there), a create or overwrite is the file (trailing space aside).
 */
export function holdsAsPatched(file: PatchedFile, content: string | undefined): boolean {
  if (content === undefined) return false;
  return file.op === 'append' ? content.includes(file.content) : content.trimEnd() === file.content.trimEnd();
}

/** How many times a read waits out a node that is still coming up (after its reboot) before giving up. */
const UNAVAILABLE_TRIES = 10;

/**
 * The files the node does not hold as the patches say, read back with `talosctl read` (MachineService.Read:
 * NotFound for a file that is not there). Per path the last patch's write counts (Talos applies them in
 * order): create and overwrite must match it, append must be contained.
 */
export async function filesNotOnNode(
  deps: ActivityDeps,
  c: ClusterHandle,
  node: { name: string; ip: string },
  files: PatchedFile[],
  read: Progress = {},
): Promise<PatchedFile[]> {
  const last = new Map(files.map((file) => [file.path, file]));
  const missing: PatchedFile[] = [];
  for (const file of last.values()) {
    const content = await readNodeFile(deps, c, node, file.path, read);
    if (!holdsAsPatched(file, content)) missing.push(file);
  }
  return missing;
}

/** A file's content on the node, or undefined when it is not there; a node coming up is waited for. */
async function readNodeFile(
  deps: ActivityDeps,
  c: ClusterHandle,
  node: { name: string; ip: string },
  path: string,
  progress: Progress,
): Promise<string | undefined> {
  for (let attempt = 1; ; attempt++) {
    const read = await talosctl(deps, c, ['-n', node.ip, 'read', path], { timeoutMs: 30_000, ...progress });
    if (read.exitCode === 0) return read.stdout;
    if (/code = NotFound/.test(read.stderr)) return undefined;
    const comingUp = read.timedOut || isUnavailable(read);
    if (!comingUp) talosFailure(`reading ${path} on ${node.name}`, read);
    if (attempt >= UNAVAILABLE_TRIES)
      throw retryable(
        'TalosUnavailable',
        `reading ${path} on ${node.name}: the Talos API did not answer (${tail(read.stderr, 2) || 'no answer in 30 s'}); retrying`,
      );
    await sleep(2000);
  }
}
