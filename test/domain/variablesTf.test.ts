import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import {
  DEFAULT_MATCH_STRINGS,
  DEFAULT_VARIABLES,
  diffTerraformVersions,
  extractValues,
  readTerraformVersions,
  renovatePatternProblem,
  RENOVATE_DEPENDENCIES,
  VersionError,
} from '../../src/domain/index.js';

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
    error_message = "must look like 1.11.3"
  }
  default = "${talos}" // pinned
}

/* variable "kubernetes_version" { default = "1.20.0" } */
variable "kubernetes_version" {
  type    = string
  default = "1.34.1"
}
`;

const SOURCE = { patterns: DEFAULT_MATCH_STRINGS, variables: DEFAULT_VARIABLES };

describe('reading terraform/variables.tf as the Renovate preset does', () => {
  it('reads assignments, never a commented-out line', () => {
    expect(readTerraformVersions(locals('v1.11.3'))).toEqual({
      talosVersion: '1.11.3',
      kubernetesVersion: '1.34.1',
      controllerSchematicId: CONTROLLER,
      workerSchematicId: WORKER,
    });
  });

  it('reads default = "..." inside variable blocks, past a nested validation block and commented-out ones', () => {
    expect(readTerraformVersions(variableBlocks('1.11.3'))).toEqual({
      talosVersion: '1.11.3',
      kubernetesVersion: '1.34.1',
    });
  });

  it('reads one-line blocks, CRLF files and # renovate: annotations', () => {
    expect(readTerraformVersions('variable "talos_version" { default = "1.12.0" }\n')).toEqual({
      talosVersion: '1.12.0',
    });
    expect(readTerraformVersions('talos_version = "1.12.0"\r\nkubernetes_version = "1.35.0"\r\n')).toEqual({
      talosVersion: '1.12.0',
      kubernetesVersion: '1.35.0',
    });
    const annotated = '# renovate: datasource=github-releases depName=siderolabs/talos\ntalos = "1.13.0"\n';
    expect(
      readTerraformVersions(annotated, { ...SOURCE, variables: { ...DEFAULT_VARIABLES, talos: 'talos' } }),
    ).toEqual({
      talosVersion: '1.13.0',
    });
  });

  it('reads each cluster of a shared file by its own variable, never a longer name that ends like it', () => {
    const text = 'prod_talos_version = "1.11.3"\nstaging_talos_version = "1.12.0"\n';
    const read = (talos: string) =>
      readTerraformVersions(text, { ...SOURCE, variables: { ...DEFAULT_VARIABLES, talos } });
    expect(read('prod_talos_version')).toEqual({ talosVersion: '1.11.3' });
    expect(read('staging_talos_version')).toEqual({ talosVersion: '1.12.0' });
    expect(read('talos_version')).toEqual({});
  });

  it('refuses a variable Renovate would bump in two places with two values', () => {
    const text = 'talos_version = "1.11.3"\nvariable "talos_version" { default = "1.10.0" }\n';
    expect(() => readTerraformVersions(text)).toThrow(/talos_version has 2 different values.*line 1.*line 2/);
  });

  it('passes over a match that is no version, as Renovate skips it', () => {
    const text =
      'variable "talos_version" { default = "1.11.3" }\nlocals {\n  talos_version = "v${var.talos_version}"\n}\n';
    expect(readTerraformVersions(text)).toEqual({ talosVersion: '1.11.3' });
  });

  it('reads an annotation only for its own package name', () => {
    const text =
      '# renovate: datasource=github-releases depName=siderolabs/talos-extensions\nextensions = "0.1.0"\n';
    expect(extractValues(text, DEFAULT_MATCH_STRINGS)).toEqual([]);
    const crlf = '# renovate: datasource=github-releases depName=siderolabs/talos\r\ntalos = "1.11.3"\r\n';
    expect(extractValues(crlf, DEFAULT_MATCH_STRINGS)).toEqual([
      { value: 'talos', variable: 'talos', text: '1.11.3', line: 2 },
    ]);
  });

  it('stops at an empty match, as Renovate does', () => {
    const text = 'talos_version = "1.11.3"\n';
    const pattern = '(?:(?<depType>talos_version) = "(?<currentValue>[^"]+)")?';
    expect(
      extractValues(text, { ...DEFAULT_MATCH_STRINGS, talos: [pattern] }).filter((v) => v.value === 'talos'),
    ).toEqual([{ value: 'talos', variable: 'talos_version', text: '1.11.3', line: 1 }]);
    expect(
      extractValues(`\n${text}`, { ...DEFAULT_MATCH_STRINGS, talos: [pattern] }).filter(
        (v) => v.value === 'talos',
      ),
    ).toEqual([]);
  });

  it('uses custom patterns with Renovate semantics: flag g alone, so ^ is the start of the file', () => {
    const text = 'talos = "1.12.0"\nk8s = "1.35.0"\n';
    expect(
      readTerraformVersions(text, {
        ...SOURCE,
        patterns: {
          ...DEFAULT_MATCH_STRINGS,
          talos: ['^talos\\s*=\\s*"(?<currentValue>[^"]+)"'],
          kubernetes: ['^k8s\\s*=\\s*"(?<currentValue>[^"]+)"'],
        },
      }),
    ).toEqual({ talosVersion: '1.12.0' });
  });

  it('names the variable when its value is not a version', () => {
    expect(() => readTerraformVersions('talos_version = "latest"')).toThrow(VersionError);
    expect(() => readTerraformVersions('talos_version = "latest"')).toThrow(/talos_version "latest"/);
  });

  it.each([
    ['an unnamed group', '^k8s\\s*=\\s*"([^"]+)"', /named group \(\?<currentValue>/],
    ['a lookahead', 'talos_version = "(?<currentValue>[^"]+)"(?=\\n)', /re2.*lookahead/],
    ['a backreference', '(["\'])(?<currentValue>[^"]+)\\1', /re2.*backreferences/],
    ['a broken expression', '(?<currentValue>[', /compile/],
  ])('says why Renovate would refuse %s', (_what, pattern, reason) => {
    expect(renovatePatternProblem(pattern, 'talos')).toMatch(reason);
  });

  it('extracts what the preset finds, with the variable and the line', () => {
    expect(
      extractValues('# talos_version = "1.0.0"\nprod_talos_version = "v1.11.3"\n', DEFAULT_MATCH_STRINGS),
    ).toEqual([{ value: 'talos', variable: 'prod_talos_version', text: '1.11.3', line: 2 }]);
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

  it('reads versions kept as attributes of one object by their paths (cluster.talos_version)', () => {
    const source = {
      patterns: DEFAULT_MATCH_STRINGS,
      variables: {
        ...DEFAULT_VARIABLES,
        talos: 'cluster.talos_version',
        kubernetes: 'cluster.kubernetes_version',
      },
    };
    const file = (talos: string) =>
      `cluster = {\n  name               = "atlas"\n  talos_version      = "v${talos}"\n  kubernetes_version = "1.34.1"\n}\n`;
    expect(diffTerraformVersions(file('1.11.3'), file('1.12.0'), source)).toMatchObject({
      kind: 'upgrade',
      talos: { from: '1.11.3', to: '1.12.0' },
    });
    expect(readTerraformVersions(file('1.11.3'), source).kubernetesVersion).toBe('1.34.1');
  });

  it('reports schematic ids that changed with the version', () => {
    const before = locals('1.11.3');
    const after = locals('1.11.4').replace(WORKER, 'f'.repeat(64));
    expect(diffTerraformVersions(before, after)).toMatchObject({
      schematics: { worker: { from: WORKER, to: 'f'.repeat(64) } },
    });
  });

  it("says which variables the file has when this cluster's is missing", () => {
    const before = 'prod_talos_version = "1.11.3"\n';
    const after = 'prod_talos_version = "1.11.4"\n';
    expect(() => diffTerraformVersions(before, after)).toThrow(
      /talos_version is not in the file, but prod_talos_version is: name this cluster's variable/,
    );
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

describe('the shipped Renovate preset', () => {
  it('carries exactly the matchStrings the product reads with', () => {
    const preset = JSON.parse(
      readFileSync(new URL('../../renovate/talos-upgrade.json', import.meta.url), 'utf8'),
    ) as { customManagers: Array<{ depNameTemplate: string; matchStrings: string[] }> };
    const of = (depName: string) =>
      preset.customManagers.find((m) => m.depNameTemplate === depName)?.matchStrings;
    expect(of(RENOVATE_DEPENDENCIES.talos)).toEqual(DEFAULT_MATCH_STRINGS.talos);
    expect(of(RENOVATE_DEPENDENCIES.kubernetes)).toEqual(DEFAULT_MATCH_STRINGS.kubernetes);
    expect(of(RENOVATE_DEPENDENCIES.schematic)).toEqual([
      ...DEFAULT_MATCH_STRINGS.controllerSchematic,
      ...DEFAULT_MATCH_STRINGS.workerSchematic,
    ]);
  });
});
