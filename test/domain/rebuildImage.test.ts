import { describe, expect, it } from '@jest/globals';
import {
  bootImagesOf,
  downloadsOf,
  factoryImageOf,
  plannedChanges,
  rebuildImageProblem,
  type ImageDownload,
} from '../../src/domain/index.js';

const ours = '4a0d65c669d46663f377e7161e50cfd570c401f26fd9e7bda34a0216b6f1922b';
const plain = '376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba';
const address = 'proxmox_virtual_environment_download_file.talos["worker"]';
const download = (url: string, which: ImageDownload['for'] = 'target'): ImageDownload => ({
  address,
  for: which,
  url,
  sensitive: false,
});
const problem = (...downloads: ImageDownload[]) =>
  rebuildImageProblem({ node: 'talos-wk-1', schematic: ours, version: '1.12.0', downloads });

describe('what a rebuild boots, read from the Image Factory URLs its create plan downloads', () => {
  it('reads schematic, version, file and kind from the /image route; anything else is no factory URL', () => {
    expect(factoryImageOf(`https://factory.talos.dev/image/${ours}/v1.12.0/nocloud-amd64.raw.zst`)).toEqual({
      schematic: ours,
      version: 'v1.12.0',
      file: 'nocloud-amd64.raw.zst',
      kind: 'disk',
    });
    expect(factoryImageOf(`http://127.0.0.1:5000/image/${ours}/1.12.0/metal-amd64.iso`)?.kind).toBe('iso');
    expect(
      factoryImageOf('https://github.com/siderolabs/talos/releases/download/v1.12.0/nocloud-amd64.raw.xz'),
    ).toBeUndefined();
    expect(factoryImageOf('not a url')).toBeUndefined();
  });

  it("passes the node's own schematic at the target version, with or without a v, and URLs it cannot read", () => {
    expect(problem(download(`https://f/image/${ours}/v1.12.0/nocloud-amd64.raw.zst`))).toBeUndefined();
    expect(problem(download(`https://f/image/${ours}/1.12.0/nocloud-amd64.raw.xz`))).toBeUndefined();
    expect(problem(download('https://mirror.lan/talos/1.12.0/disk.raw'))).toBeUndefined();
    expect(problem()).toBeUndefined();
    // The undo's image is the version the node leaves: not the target's.
    expect(
      problem(
        download(`https://f/image/${ours}/v1.12.0/nocloud-amd64.raw.zst`),
        download(`https://f/image/${ours}/v1.11.3/nocloud-amd64.raw.zst`, 'undo'),
      ),
    ).toBeUndefined();
  });

  it('refuses another schematic, another version, or an ISO alone, naming the fix', () => {
    expect(problem(download(`https://f/image/${plain}/v1.12.0/nocloud-amd64.raw.zst`))).toMatch(
      /^talos-wk-1: its create at Talos 1\.12\.0 would boot one of proxmox_virtual_environment_download_file\.talos\["worker"\] \(schematic 376567988ad3…\), but talos-wk-1 runs schematic 4a0d65c669d4… \(the inventory's\): .*nothing was touched\. Give talos-wk-1 the image of its own schematic in Terraform/,
    );
    expect(problem(download(`https://f/image/${ours}/v1.11.3/nocloud-amd64.raw.zst`))).toMatch(
      /\(Talos v1\.11\.3\), not an image of Talos 1\.12\.0: .*versions\.variables\.talos/,
    );
    expect(problem(download(`https://f/image/${ours}/v1.12.0/metal-amd64.iso`))).toMatch(
      /\(metal-amd64\.iso\), an ISO: .*machine\.install\.image.*--strategy pets/,
    );
    // An ISO beside the disk image the VM boots from (a rescue CD-ROM) is no reason to refuse.
    expect(
      problem(
        download(`https://f/image/${ours}/v1.12.0/metal-amd64.iso`),
        download(`https://f/image/${ours}/v1.12.0/nocloud-amd64.raw.zst`),
      ),
    ).toBeUndefined();
  });

  it("judges the image the node's VM boots when the plan tells which, else any the plan downloads", () => {
    // A controller's targeted plan replaces every instance of the download resource, the workers' too.
    const both = [
      download(`https://f/image/${ours}/v1.12.0/nocloud-amd64.raw.zst`),
      download(`https://f/image/${plain}/v1.12.0/nocloud-amd64.raw.zst`),
    ];
    const booting = (booted?: Array<{ address: string; url?: string }>) =>
      rebuildImageProblem({
        node: 'talos-wk-1',
        schematic: ours,
        version: '1.12.0',
        downloads: both,
        ...(booted ? { booted } : {}),
      });
    expect(booting([{ address: 'cp', url: both[0]?.url }])).toBeUndefined();
    expect(booting([{ address: 'wk', url: both[1]?.url }])).toMatch(
      /would boot one of wk \(schematic 376567988ad3…\)/,
    );
    // A download the plan leaves as it is, pinned to the version the node runs.
    expect(
      booting([{ address: 'pinned', url: `https://f/image/${ours}/v1.11.3/nocloud-amd64.raw.zst` }]),
    ).toMatch(/would boot pinned \(Talos v1\.11\.3\), not an image of Talos 1\.12\.0/);
    // The VM boots a file no download holds: nothing to tell. Not told: one of the images is enough.
    expect(booting([])).toBeUndefined();
    expect(booting()).toBeUndefined();
  });

  it('reads which download holds the file a VM boots, replaced or not, from the plan', () => {
    const change = (address: string, type: string, actions: string[], before: object, after: object) => ({
      address,
      type,
      mode: 'managed',
      change: { actions, before, after },
    });
    const download = 'proxmox_virtual_environment_download_file';
    const show = JSON.stringify({
      resource_changes: [
        change(
          `${download}.talos["worker"]`,
          download,
          ['delete', 'create'],
          { id: 'local:iso/wk.img', url: `https://f/image/${ours}/v1.11.3/a.raw.zst` },
          { url: `https://f/image/${ours}/v1.12.0/a.raw.zst` },
        ),
        change(
          `${download}.talos["controlplane"]`,
          download,
          ['no-op'],
          { id: 'local:iso/cp.img', url: 'https://f/cp' },
          { id: 'local:iso/cp.img', url: 'https://f/cp' },
        ),
        change(
          'proxmox_virtual_environment_vm.worker[0]',
          'proxmox_virtual_environment_vm',
          ['delete', 'create'],
          { disk: [{ file_id: 'local:iso/wk.img' }], cdrom: [] },
          {},
        ),
        change(
          'proxmox_virtual_environment_vm.controlplane[0]',
          'proxmox_virtual_environment_vm',
          ['delete', 'create'],
          { disk: [{ import_from: 'local:iso/cp.img' }] },
          {},
        ),
      ],
    });
    const planned = plannedChanges(show);
    expect(bootImagesOf(planned, ['proxmox_virtual_environment_vm.worker[0]'])).toEqual([
      { address: `${download}.talos["worker"]`, url: `https://f/image/${ours}/v1.12.0/a.raw.zst` },
    ]);
    expect(bootImagesOf(planned, ['proxmox_virtual_environment_vm.controlplane[0]'])).toEqual([
      { address: `${download}.talos["controlplane"]`, url: 'https://f/cp' },
    ]);
    expect(bootImagesOf(planned, ['module.other'])).toBeUndefined();
    // What pre-flight asks to answer before any destroy: the replaced image, and the undo's.
    expect(downloadsOf(planned).map((d) => [d.for, d.url])).toEqual([
      ['target', `https://f/image/${ours}/v1.12.0/a.raw.zst`],
      ['undo', `https://f/image/${ours}/v1.11.3/a.raw.zst`],
    ]);
  });
});
