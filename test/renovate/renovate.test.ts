import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execa } from 'execa';
import {
  attributeOf,
  DEFAULT_MATCH_STRINGS,
  extractValues,
  parseInventory,
  parseVersion,
  readTerraformVersions,
  RENOVATE_DEPENDENCIES,
  type VersionValue,
} from '../../src/domain/index.js';
import { replaceUpgrade } from '../../lab/renovate/applyBranch.js';
import { startReleasesServer, type ReleasesServer } from '../../lab/renovate/releasesServer.js';
import { labRenovateConfig, runRenovate, type RenovateResult } from '../../lab/renovate/renovateRun.js';
import { ensureTools } from '../../lab/tools.js';
import { LAYOUTS, variablesOf, type Layout } from './layouts.js';

const DEPENDENCY_OF: Record<VersionValue, string> = {
  talos: RENOVATE_DEPENDENCIES.talos,
  kubernetes: RENOVATE_DEPENDENCIES.kubernetes,
  controllerSchematic: RENOVATE_DEPENDENCIES.schematic,
  workerSchematic: RENOVATE_DEPENDENCIES.schematic,
};
const VERSION_KEY = { talos: 'talosVersion', kubernetes: 'kubernetesVersion' } as const;

let tools: { renovate: string; 'renovate-config-validator': string };
let releases: ReleasesServer;
let repo: string;
let lookup: RenovateResult;

beforeAll(async () => {
  tools = await ensureTools('renovate');
  releases = await startReleasesServer();
  repo = await mkdtemp(join(tmpdir(), 'talos-upgrade-renovate-repo-'));
  for (const layout of LAYOUTS) {
    await mkdir(dirname(join(repo, layout.file)), { recursive: true });
    await writeFile(join(repo, layout.file), layout.text);
  }
  await writeFile(join(repo, 'renovate.json'), JSON.stringify(await labRenovateConfig(releases.urlTemplate)));
  const git = (args: string[]) =>
    execa('git', ['-C', repo, '-c', 'user.name=t', '-c', 'user.email=t@t.invalid', ...args]);
  await git(['init', '--quiet', '--initial-branch', 'main']);
  await git(['add', '-A']);
  await git(['commit', '--quiet', '-m', 'layouts']);
  lookup = await runRenovate({ renovate: tools.renovate, repoDir: repo, mode: 'lookup' });
}, 600_000);

afterAll(async () => {
  await releases?.close();
  if (repo) await rm(repo, { recursive: true, force: true });
});

const key = (depName: string, variable: string | undefined, value: string | undefined) =>
  `${depName} ${variable ?? '?'} = ${value ?? '?'}`;

function branchesTouching(layout: Layout) {
  return lookup.branches.filter((b) => b.upgrades.some((u) => u.packageFile === layout.file));
}

describe('the real Renovate and the product read the same versions', () => {
  it('Renovate takes the shipped preset without a configuration error', () => {
    expect(lookup.configErrors).toEqual([]);
    expect(lookup.dependencies.length).toBeGreaterThan(0);
  });

  it.each(LAYOUTS.map((l) => [l.name, l] as const))(
    '%s: what Renovate extracts, the product reads',
    (_name, layout) => {
      const renovate = lookup.dependencies
        .filter((d) => d.packageFile === layout.file)
        .map((d) => key(d.depName, d.depType, d.currentValue ?? d.currentDigest));
      const product = extractValues(layout.text, DEFAULT_MATCH_STRINGS).map((v) =>
        key(DEPENDENCY_OF[v.value], v.variable, v.text),
      );
      expect([...new Set(product)].sort()).toEqual([...new Set(renovate)].sort());
      for (const reader of layout.readers)
        expect(
          readTerraformVersions(layout.text, {
            patterns: DEFAULT_MATCH_STRINGS,
            variables: variablesOf(reader),
          }),
        ).toEqual(reader.reads);
    },
  );

  it.each(LAYOUTS.map((l) => [l.name, l] as const))(
    '%s: after each Renovate branch, the product reads its new value',
    (_name, layout) => {
      const branches = branchesTouching(layout);
      expect(branches.length).toBeGreaterThan(0);
      for (const branch of branches) {
        const mine = branch.upgrades.filter((u) => u.packageFile === layout.file);
        const after = mine.reduce(replaceUpgrade, layout.text);
        expect(after).not.toEqual(layout.text);
        for (const reader of layout.readers) {
          const variables = variablesOf(reader);
          const read = readTerraformVersions(after, { patterns: DEFAULT_MATCH_STRINGS, variables });
          for (const value of ['talos', 'kubernetes'] as const) {
            const upgrade = mine.find(
              (u) => u.depName === DEPENDENCY_OF[value] && u.depType === attributeOf(variables[value]),
            );
            const expected = upgrade?.newValue
              ? parseVersion(upgrade.newValue)
              : reader.reads[VERSION_KEY[value]];
            expect(read[VERSION_KEY[value]]).toBe(expected);
          }
        }
      }
    },
  );

  it('keeps a leading v where the file has one', () => {
    const layout = LAYOUTS.find((l) => l.name === 'a leading v') as Layout;
    const [branch] = branchesTouching(layout);
    const after = (branch?.upgrades ?? [])
      .filter((u) => u.packageFile === layout.file)
      .reduce(replaceUpgrade, layout.text);
    expect(after).toMatch(/talos_version\s+= "v1\.\d+\.\d+"/);
  });

  it('never puts a patch and a minor in one pull request; labels say which it is', () => {
    expect(lookup.branches.length).toBeGreaterThan(2);
    for (const branch of lookup.branches) {
      const types = [...new Set(branch.upgrades.map((u) => u.updateType))];
      expect({ branch: branch.branchName, types }).toEqual({ branch: branch.branchName, types: [types[0]] });
      const product = branch.upgrades[0]?.depName === RENOVATE_DEPENDENCIES.talos ? 'talos' : 'kubernetes';
      expect(branch.labels.sort()).toEqual(['talos-upgrade', `${product}-${types[0]}`].sort());
      expect(branch.labels).not.toContain('upgrade-pets');
      expect(branch.labels).not.toContain('upgrade-cattle');
    }
    const talosBranches = lookup.branches.filter(
      (b) => b.upgrades[0]?.depName === RENOVATE_DEPENDENCIES.talos,
    );
    expect(new Set(talosBranches.map((b) => b.upgrades[0]?.updateType))).toEqual(new Set(['patch', 'minor']));
  });

  it('never bumps a schematic id', () => {
    expect(lookup.dependencies.some((d) => d.depName === RENOVATE_DEPENDENCIES.schematic)).toBe(true);
    for (const branch of lookup.branches)
      expect(branch.upgrades.every((u) => u.depName !== RENOVATE_DEPENDENCIES.schematic)).toBe(true);
  });
});

describe('a pattern Renovate refuses, the inventory refuses', () => {
  const inventoryWith = async (pattern: string) => {
    const text = await readFile(new URL('../../examples/atlas.yaml', import.meta.url), 'utf8');
    return parseInventory(`${text}\nversions:\n  patterns:\n    kubernetes: ${JSON.stringify(pattern)}\n`);
  };

  it('an unnamed group: Renovate rejects the config, validate names the field', async () => {
    const pattern = '^k8s\\s*=\\s*"([^"]+)"';
    const dir = await mkdtemp(join(tmpdir(), 'talos-upgrade-renovate-config-'));
    try {
      const config = join(dir, 'renovate.json');
      await writeFile(
        config,
        JSON.stringify({
          customManagers: [
            {
              customType: 'regex',
              managerFilePatterns: ['/variables\\.tf$/'],
              matchStrings: [pattern],
              datasourceTemplate: 'github-releases',
              depNameTemplate: RENOVATE_DEPENDENCIES.kubernetes,
            },
          ],
        }),
      );
      const refused = await execa(tools['renovate-config-validator'], [config], { reject: false });
      expect(refused.exitCode).not.toBe(0);
      expect(refused.stdout + refused.stderr).toMatch(/Regex Managers must contain currentValue/);
      const preset = join(process.cwd(), 'renovate', 'talos-upgrade.json');
      const accepted = await execa(tools['renovate-config-validator'], [preset], { reject: false });
      expect(accepted.exitCode).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    const result = await inventoryWith(pattern);
    expect(result.ok).toBe(false);
    if (!result.ok)
      expect(result.issues).toContainEqual(
        expect.objectContaining({
          path: 'versions.patterns.kubernetes',
          message: expect.stringMatching(/currentValue/),
        }),
      );
  }, 120_000);

  it("a lookahead: re2, the engine of Renovate's releases, has none; validate says so", async () => {
    // The Renovate in .tools runs without re2 (its native build needs the network), so it would
    // take this pattern; the Renovate users run (the app, the container image) has re2 and refuses it.
    const result = await inventoryWith('kubernetes_version = "(?<currentValue>[^"]+)"(?=\\n)');
    expect(result.ok).toBe(false);
    if (!result.ok)
      expect(result.issues[0]).toMatchObject({
        path: 'versions.patterns.kubernetes',
        message: expect.stringMatching(/re2/),
      });
  });
});
