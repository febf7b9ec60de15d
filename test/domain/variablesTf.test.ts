import { describe, expect, it } from '@jest/globals';
import { diffTerraformVersions, readTerraformVersions, VersionError } from '../../src/domain/index.js';

const CONTROLLER = '366fd68945d42e0b6428f65068c83c2c3c08e3afb0e3bc3f00e04b28e2ad0ce2';
const WORKER = '990731763242a6b3cf735e49d0f550ce4068b4d0e7f4dfbb49a31799b698877e';

const locals = (talos: string, kubernetes = '1.34.1') => `
# talos_version = "1.0.0"   (a comment never counts)
locals {
  talos_version           = "${talos}"
  kubernetes_version      = "v${kubernetes}"
  controller_schematic_id = "${CONTROLLER}"
  worker_schematic_id     = "${WORKER}"
}
`;

const variableBlocks = (talos: string) => `
variable "talos_version" {
  description = "Talos version; Renovate bumps it"
  type        = string
  validation {
    condition     = can(regex("^v?\\\\d+", var.talos_version))
    error_message = "must look like 1.11.3 { with a brace }"
  }
  default = "${talos}" // pinned
}

/* variable "kubernetes_version" { default = "1.20.0" } */
variable "kubernetes_version" {
  type    = string
  default = "1.34.1"
}
`;

describe('reading terraform/variables.tf', () => {
  it('reads assignments with the Renovate patterns, ignoring comments', () => {
    expect(readTerraformVersions(locals('v1.11.3'))).toEqual({
      talosVersion: '1.11.3',
      kubernetesVersion: '1.34.1',
      controllerSchematicId: CONTROLLER,
      workerSchematicId: WORKER,
    });
  });

  it('reads default = "..." inside variable blocks, past nested blocks and commented-out ones', () => {
    expect(readTerraformVersions(variableBlocks('1.11.3'))).toEqual({
      talosVersion: '1.11.3',
      kubernetesVersion: '1.34.1',
    });
  });

  it('uses custom patterns from the inventory', () => {
    const text = 'talos = "1.12.0"\nk8s = "1.35.0"\n';
    expect(
      readTerraformVersions(text, {
        talos: '^talos\\s*=\\s*"(?<currentValue>[^"]+)"',
        kubernetes: '^k8s\\s*=\\s*"([^"]+)"',
        controllerSchematic: 'nothing-here',
        workerSchematic: 'nothing-here',
      }),
    ).toEqual({ talosVersion: '1.12.0', kubernetesVersion: '1.35.0' });
  });

  it('names the variable when its value is not a version', () => {
    expect(() => readTerraformVersions('talos_version = "latest"')).toThrow(VersionError);
    expect(() => readTerraformVersions('talos_version = "latest"')).toThrow(/talos_version "latest"/);
  });
});

describe('comparing two versions of variables.tf', () => {
  it('turns a Talos bump into an upgrade request', () => {
    const diff = diffTerraformVersions(locals('1.11.3'), locals('1.11.4'));
    expect(diff).toMatchObject({ kind: 'upgrade', talos: { from: '1.11.3', to: '1.11.4' }, schematics: {} });
    expect(diff.kind === 'upgrade' && diff.kubernetes).toBeFalsy();
  });

  it('turns a Kubernetes bump alone into an upgrade request', () => {
    expect(diffTerraformVersions(locals('1.11.3', '1.34.1'), locals('1.11.3', '1.34.2'))).toMatchObject({
      kind: 'upgrade',
      kubernetes: { from: '1.34.1', to: '1.34.2' },
    });
  });

  it('works across the two ways of writing the file', () => {
    expect(diffTerraformVersions(variableBlocks('1.11.3'), locals('1.12.0', '1.34.1'))).toMatchObject({
      kind: 'upgrade',
      talos: { from: '1.11.3', to: '1.12.0' },
    });
  });

  it('reports schematic ids that changed with the version', () => {
    const before = locals('1.11.3');
    const after = locals('1.11.4').replace(WORKER, 'f'.repeat(64));
    expect(diffTerraformVersions(before, after)).toMatchObject({
      schematics: { worker: { from: WORKER, to: 'f'.repeat(64) } },
    });
  });

  it.each([
    ['no version changed', locals('1.11.3'), locals('1.11.3') + '\n# a comment\n', /unchanged/],
    [
      'only a schematic changed',
      locals('1.11.3'),
      locals('1.11.3').replace(WORKER, 'a'.repeat(64)),
      /only schematic ids changed/,
    ],
    ['a downgrade', locals('1.11.3'), locals('1.10.9'), /went down from 1\.11\.3 to 1\.10\.9/],
    [
      'the new file has no talos_version',
      locals('1.11.3'),
      'variable "other" {}',
      /talos_version was not found/,
    ],
  ])('says nothing to do when %s', (_name, before, after, reason) => {
    const diff = diffTerraformVersions(before, after);
    expect(diff.kind).toBe('nothing');
    expect(diff.kind === 'nothing' && diff.reason).toMatch(reason);
  });
});
