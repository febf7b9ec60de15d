import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { isSeq, parse, type Document } from 'yaml';
import type { ClusterPreset } from '../cluster/presets.js';

/** A GPU patch as the documents require it: /var paths only, and no-cgroups for the eBPF issue. */
export function gpuPatch(withEtcPath = false): string {
  const runtimeDir = withEtcPath ? '/etc/nvidia-container-runtime' : '/var/etc/nvidia-container-runtime';
  return `machine:
  files:
    - path: /var/cri/conf.d/20-customization.part
      op: create
      content: |
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.nvidia]
          runtime_type = "io.containerd.runc.v2"
    - path: ${runtimeDir}/config.toml
      op: create
      content: |
        [nvidia-container-cli]
        no-cgroups = true
`;
}

/** The patch every node of a preset with global patches carries (the lab's user applied it to all). */
export const GLOBAL_PATCH = `machine:
  sysctls:
    vm.nr_hugepages: "0"
  time:
    servers: [time.cloudflare.com]
`;

/**
 * A strategic-merge patch applied to a config document as Talos merges it (pkg/machinery/config/
 * merge/merge.go, v1.13.8: maps key by key; lists appended unless tagged `merge:"replace"`, which
 * neither machine.files nor machine.time.servers is; scalars replaced). The lab's nodes start
 * with their patches in their running config, as a user's nodes do.
 */
export function mergePatch(doc: Document, patchText: string): void {
  const merge = (path: Array<string | number>, value: unknown): void => {
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      for (const [key, inner] of Object.entries(value)) merge([...path, key], inner);
      return;
    }
    const held = doc.getIn(path, true);
    if (Array.isArray(value) && isSeq(held)) for (const item of value) held.add(doc.createNode(item));
    else doc.setIn(path, doc.createNode(value));
  };
  merge([], parse(patchText) as unknown);
}

/** An installer form at the lab registry: the lab serves every image a real registry would. */
export function mirroredInstaller(form: string, registryHost: string): string {
  return form.replace(/^[^/]+\//, `${registryHost}/`);
}

/**
 * The lab's copy of the user's Git repository, as a user's clone is: a Git work tree whose origin is
 * the repository on GitHub the preset names, with terraform/ (written beside) and talos/patches/. No
 * inventory: the product's configuration is the user's to write, with `talos-upgrade init`.
 */
export async function writeLabRepository(repoDir: string, described: ClusterPreset): Promise<void> {
  await mkdir(repoDir, { recursive: true });
  const patches = [
    ...described.globalPatches.map((file) => ({ file, text: GLOBAL_PATCH })),
    ...described.nodes.flatMap((node) => node.gpu?.patches.map((file) => ({ file, text: gpuPatch() })) ?? []),
  ];
  for (const { file, text } of patches) {
    const path = join(repoDir, file);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, text);
  }
  await execa('git', ['init', '-q', '-b', described.repository?.defaultBranch ?? 'main'], { cwd: repoDir });
  if (described.repository?.github)
    await execa('git', ['remote', 'add', 'origin', `https://github.com/${described.repository.github}.git`], {
      cwd: repoDir,
    });
}
