import { parseAllDocuments } from 'yaml';

/**
 * The files a machine config's `machine.files` write, by path. Talos writes them in the boot sequence
 * only (its WriteUserFiles task: v1alpha1_sequencer.go L228 at v1.13.8, L246 at v1.14.1): a config
 * applied while the node runs changes them at its next boot.
 */
export function configFiles(text: string | undefined): Record<string, string> {
  const files: Record<string, string> = {};
  for (const doc of parseAllDocuments(text ?? '')) {
    const machine = (
      doc.toJS() as { machine?: { files?: Array<{ path?: string; content?: string }> } } | null
    )?.machine;
    for (const file of machine?.files ?? []) if (file.path) files[file.path] = file.content ?? '';
  }
  return files;
}

/**
 * Whether the booted files configure containerd's `nvidia` runtime: a CRI customization part under
 * /var/cri/conf.d/, which Talos merges into the CRI config its containerd starts with. Without it the
 * NVIDIA device plugin cannot run its containers, and the node advertises no nvidia.com/gpu.
 */
export function configuresNvidiaRuntime(files: Record<string, string>): boolean {
  return Object.entries(files).some(
    ([path, content]) => path.startsWith('/var/cri/conf.d/') && /runtimes\.nvidia\]/.test(content),
  );
}
