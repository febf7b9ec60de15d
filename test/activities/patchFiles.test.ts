import { describe, expect, it } from '@jest/globals';
import { holdsAsPatched, patchedFiles } from '../../src/activities/patchFiles.js';

// The GPU patch as the documents write it, and Talos's own CRI customization part beside it.
const PATCH = `machine:
  files:
    - path: /var/etc/nvidia-container-runtime/config.toml
      op: create
      content: |
        [nvidia-container-cli]
        no-cgroups = true
    - path: /etc/cri/conf.d/20-customization.part
      op: create
      content: |
        [plugins."io.containerd.cri.v1.runtime".containerd]
          default_runtime_name = "nvidia"
    - path: /var/log/extra.conf
      op: append
      content: "tail line"
---
apiVersion: v1alpha1
kind: VLANConfig
name: eth1.99
`;

describe('the files a patch writes', () => {
  it("are its machine.files, in every document, without Talos's CRI customization part (not a file on 1.14)", () => {
    expect(patchedFiles('talos/patches/gpu.yaml', PATCH)).toEqual([
      {
        patch: 'talos/patches/gpu.yaml',
        path: '/var/etc/nvidia-container-runtime/config.toml',
        op: 'create',
        content: '[nvidia-container-cli]\nno-cgroups = true\n',
      },
      { patch: 'talos/patches/gpu.yaml', path: '/var/log/extra.conf', op: 'append', content: 'tail line' },
    ]);
    expect(patchedFiles('p.yaml', 'machine:\n  sysctls:\n    vm.nr_hugepages: "0"\n')).toEqual([]);
  });

  it('are held as written: create and overwrite exactly (trailing space aside), append contained', () => {
    const [created, appended] = patchedFiles('p.yaml', PATCH);
    if (!created || !appended) throw new Error('the patch has two files');
    expect(holdsAsPatched(created, '[nvidia-container-cli]\nno-cgroups = true\n\n')).toBe(true);
    expect(holdsAsPatched(created, '[nvidia-container-cli]\nno-cgroups = false\n')).toBe(false);
    // A longer file that merely contains the content is not what create wrote.
    expect(holdsAsPatched(created, '# old\n[nvidia-container-cli]\nno-cgroups = true\n')).toBe(false);
    expect(holdsAsPatched(created, undefined)).toBe(false);
    expect(holdsAsPatched(appended, 'first line\ntail line')).toBe(true);
    expect(holdsAsPatched(appended, 'first line')).toBe(false);
  });
});
