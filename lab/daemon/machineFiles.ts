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
 * Whether the booted files configure the NVIDIA container runtime as Talos needs it (`no-cgroups = true`
 * in nvidia-container-runtime's config.toml, the GPU patch's file). A stand-in for what the NVIDIA
 * device plugin's containers need from the node, which the lab does not run: a GPU node advertises
 * nvidia.com/gpu only after a boot that wrote that file, so a patch taken without the reboot it needs
 * shows up where the product's GPU health check looks.
 */
export function configuresNvidiaRuntime(files: Record<string, string>): boolean {
  return Object.entries(files).some(
    ([path, content]) =>
      path.endsWith('/nvidia-container-runtime/config.toml') && /no-cgroups\s*=\s*true/.test(content),
  );
}
