import { parseAllDocuments } from 'yaml';
import type { ActivityDeps, ClusterHandle } from './deps.js';
import { sleep } from './activityContext.js';
import { isUnavailable, talosctl, talosFailure } from './talosctl.js';

/** A file a patch writes with machine.files: where, and what it must hold. */
export interface PatchedFile {
  patch: string;
  path: string;
  content: string;
}

/**
 * The machine.files a patch's documents write. Talos writes them only in its boot sequence (the
 * WriteUserFiles task, v1alpha1_sequencer.go L228 at v1.13.8 and L246 at v1.14.1); Talos 1.11–1.13 refuse
 * them in mode no-reboot, while 1.14 takes them (AUTO is NO_REBOOT there, and nothing is checked) and
 * writes them at whatever boot comes next.
 */
export function patchedFiles(patch: string, text: string): PatchedFile[] {
  return parseAllDocuments(text).flatMap((doc) => {
    const machine = (
      doc.toJS() as { machine?: { files?: Array<{ path?: unknown; content?: unknown }> } } | null
    )?.machine;
    return (machine?.files ?? []).flatMap((file) =>
      typeof file.path === 'string'
        ? [{ patch, path: file.path, content: typeof file.content === 'string' ? file.content : '' }]
        : [],
    );
  });
}

/** How many times a read waits out a node that is still coming up (after its reboot) before giving up. */
const UNAVAILABLE_TRIES = 10;

/**
 * The files the node does not hold as the patches say, read back with `talosctl read` (MachineService.Read:
 * NotFound for a file that is not there). Appended content counts when the file contains it.
 */
export async function filesNotOnNode(
  deps: ActivityDeps,
  c: ClusterHandle,
  node: { name: string; ip: string },
  files: PatchedFile[],
): Promise<PatchedFile[]> {
  const missing: PatchedFile[] = [];
  for (const file of files) {
    for (let attempt = 1; ; attempt++) {
      const read = await talosctl(deps, c, ['-n', node.ip, 'read', file.path], { timeoutMs: 30_000 });
      if (read.exitCode === 0) {
        if (!read.stdout.includes(file.content.trimEnd())) missing.push(file);
        break;
      }
      if (/code = NotFound/.test(read.stderr)) {
        missing.push(file);
        break;
      }
      if (!isUnavailable(read) || attempt >= UNAVAILABLE_TRIES)
        talosFailure(`reading ${file.path} on ${node.name}`, read);
      await sleep(2000);
    }
  }
  return missing;
}
