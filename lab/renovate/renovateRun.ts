import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { PROJECT_ROOT } from '../tools.js';

/** One dependency as Renovate's regex manager extracted it. */
export interface RenovateDependency {
  packageFile: string;
  depName: string;
  /** The variable's name: the preset's patterns capture it as depType. */
  depType?: string;
  currentValue?: string;
  currentDigest?: string;
  replaceString?: string;
}

/** One update inside a branch, with what Renovate would write. */
export interface RenovateUpgrade extends RenovateDependency {
  newValue?: string;
  updateType?: string;
}

/** A branch, that is a pull request, Renovate would open. */
export interface RenovateBranch {
  branchName: string;
  prTitle: string;
  labels: string[];
  upgrades: RenovateUpgrade[];
}

export interface RenovateResult {
  dependencies: RenovateDependency[];
  branches: RenovateBranch[];
  /** Configuration errors: Renovate refuses the repository's whole config when there is one. */
  configErrors: string[];
}

/** The Renovate preset talos-upgrade ships for its users' repositories. */
export const SHIPPED_PRESET = join(PROJECT_ROOT, 'renovate', 'talos-upgrade.json');

/**
 * The shipped preset as the lab's repositories use it. The only change: releases come from the
 * loopback stand-in (a custom datasource) instead of GitHub, which this machine cannot reach.
 */
export async function labRenovateConfig(releasesUrlTemplate: string): Promise<Record<string, unknown>> {
  const preset = JSON.parse(await readFile(SHIPPED_PRESET, 'utf8')) as {
    customManagers: Array<Record<string, unknown>>;
  };
  return {
    ...preset,
    customManagers: preset.customManagers.map((manager) =>
      manager.datasourceTemplate === 'github-releases'
        ? { ...manager, datasourceTemplate: 'custom.lab-releases' }
        : manager,
    ),
    customDatasources: { 'lab-releases': { defaultRegistryUrlTemplate: releasesUrlTemplate } },
  };
}

type LogLine = {
  msg?: string;
  packageFiles?: Record<string, Array<{ packageFile: string; deps: RenovateDependency[] }>>;
  config?: Record<string, Array<{ packageFile: string; deps: RenovateDependency[] }>>;
  branches?: Array<RenovateBranch & { addLabels?: string[] }>;
  errors?: Array<{ message: string }>;
  err?: { message?: string };
};

/** The fields the tests compare, without Renovate's many others. */
const pick = (d: RenovateUpgrade): RenovateUpgrade => ({
  packageFile: d.packageFile,
  depName: d.depName,
  ...(d.depType !== undefined ? { depType: d.depType } : {}),
  ...(d.currentValue !== undefined ? { currentValue: d.currentValue } : {}),
  ...(d.currentDigest !== undefined ? { currentDigest: d.currentDigest } : {}),
  ...(d.replaceString !== undefined ? { replaceString: d.replaceString } : {}),
  ...(d.newValue !== undefined ? { newValue: d.newValue } : {}),
  ...(d.updateType !== undefined ? { updateType: d.updateType } : {}),
});

/**
 * Runs the real Renovate on a local Git repository (its committed files and its renovate.json),
 * offline: platform `local` in dry-run `extract` (what it finds) or `lookup` (also the branches it
 * would open, from the releases stand-in). Any other host is sent to a closed loopback proxy.
 */
export async function runRenovate(options: {
  renovate: string;
  repoDir: string;
  mode: 'extract' | 'lookup';
}): Promise<RenovateResult> {
  const base = await mkdtemp(join(tmpdir(), 'talos-upgrade-renovate-'));
  try {
    const run = await execa(options.renovate, [], {
      cwd: options.repoDir,
      reject: false,
      timeout: 180_000,
      env: {
        RENOVATE_PLATFORM: 'local',
        RENOVATE_DRY_RUN: options.mode,
        RENOVATE_ONBOARDING: 'false',
        RENOVATE_REQUIRE_CONFIG: 'optional',
        RENOVATE_BASE_DIR: base,
        RENOVATE_X_IGNORE_RE2: 'true',
        LOG_FORMAT: 'json',
        // The branches with their labels are logged at trace level only.
        LOG_LEVEL: options.mode === 'lookup' ? 'trace' : 'debug',
        HTTP_PROXY: 'http://127.0.0.1:9',
        HTTPS_PROXY: 'http://127.0.0.1:9',
        NO_PROXY: '127.0.0.1,localhost',
      },
    });
    const result: RenovateResult = { dependencies: [], branches: [], configErrors: [] };
    for (const line of run.stdout.split('\n')) {
      if (!line.startsWith('{')) continue;
      const log = JSON.parse(line) as LogLine;
      if (log.msg === 'Extracted dependencies' || log.msg === 'packageFiles with updates') {
        const files = log.packageFiles ?? log.config ?? {};
        result.dependencies = Object.values(files).flatMap((list) =>
          list.flatMap((file) => file.deps.map((dep) => pick({ ...dep, packageFile: file.packageFile }))),
        );
      } else if (log.msg === 'branches' && log.branches) {
        result.branches = log.branches.map((branch) => ({
          branchName: branch.branchName,
          prTitle: branch.prTitle,
          // A pull request's labels, as Renovate's prepareLabels makes them: labels then addLabels, once each.
          labels: [...new Set([...(branch.labels ?? []), ...(branch.addLabels ?? [])])],
          upgrades: branch.upgrades.map(pick),
        }));
      } else if (log.msg === 'Found renovate config errors' && log.errors) {
        result.configErrors.push(...log.errors.map((e) => e.message));
      }
    }
    if (run.failed && result.configErrors.length === 0)
      throw new Error(`${run.shortMessage}\n${(run.stderr || run.stdout).slice(-2000)}`);
    return result;
  } finally {
    await rm(base, { recursive: true, force: true });
  }
}
