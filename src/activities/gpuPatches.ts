import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import type { ClusterHandle } from './deps.js';
import { nonRetryable } from './errors.js';

interface PatchFile {
  machine?: { files?: Array<{ path?: string; content?: string }> };
}

/**
 * The documents' GPU rules: a patch may write under /var only (an /etc/ path makes Talos boot-loop)
 * and must set `no-cgroups = true` for the NVIDIA runtime (the eBPF incompatibility).
 */
export function gpuPatchProblems(file: string, text: string): string[] {
  let doc: PatchFile | null;
  try {
    doc = parse(text) as PatchFile | null;
  } catch (error) {
    return [`${file}: not valid YAML (${(error as Error).message.split('\n')[0]})`];
  }
  const files = doc?.machine?.files ?? [];
  const problems: string[] = [];
  if (files.length === 0) problems.push(`${file}: writes no machine.files`);
  for (const entry of files) {
    if (!entry.path?.startsWith('/var/'))
      problems.push(
        `${file}: path ${entry.path ?? '(none)'} is outside /var (only /var/... is writable; /etc/ paths boot-loop)`,
      );
  }
  if (!files.some((entry) => /no-cgroups\s*=\s*true/.test(entry.content ?? '')))
    problems.push(`${file}: does not set no-cgroups = true for the NVIDIA container runtime`);
  return problems;
}

export function gpuActivities(cluster: (name: string) => ClusterHandle) {
  async function validateGpuPatches(input: { cluster: string }): Promise<{ checked: string[] }> {
    const c = cluster(input.cluster);
    const checked: string[] = [];
    const problems: string[] = [];
    for (const node of c.inventory.nodes.filter((n) => n.gpu)) {
      for (const file of node.gpu?.patches ?? []) {
        const text = await readFile(c.resolvePath(file), 'utf8').catch(() => undefined);
        if (text === undefined) problems.push(`${node.name}: ${file} cannot be read`);
        else problems.push(...gpuPatchProblems(file, text).map((p) => `${node.name}: ${p}`));
        checked.push(file);
      }
    }
    if (problems.length)
      throw nonRetryable('ValidationFailed', `GPU patches are not safe to apply:\n${problems.join('\n')}`, {
        problems,
      });
    return { checked };
  }
  return { validateGpuPatches };
}
