import { access } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import {
  gitCloneSource,
  githubContentsSource,
  type ActivityDeps,
  type ClusterAccess,
  type FileSource,
} from '../activities/index.js';
import type { GitHubReleases } from '../activities/githubReleases.js';
import { parseDuration } from '../domain/index.js';
import { secretFromEnv } from '../starter/envSecret.js';
import { kubernetesReleasesFromEnv, talosReleasesFromEnv } from '../starter/talosReleases.js';
import { loadInventoryFile } from '../starter/inventoryFile.js';
import { temporalSettings, type TemporalSettings } from '../starter/temporalConnection.js';

export interface WorkerOptions {
  inventory: string[];
  credentialsDir?: string;
  metrics?: string;
}

export interface WorkerConfig {
  temporal: TemporalSettings;
  /** host:port of the Prometheus endpoint, or undefined for none. */
  metricsAddress?: string;
  /** How often the run gauges (in progress, awaiting approval or a window) are read; default 15 s. */
  gaugeIntervalMs: number;
  logLevel: string;
  /** Activities run at once; a fleet of clusters upgraded together needs more than one cluster does. */
  maxConcurrentActivities: number;
  /**
   * Workflow runs kept in the worker's cache (default: the SDK's, from the heap limit). A run evicted
   * from it is replayed from its history at its next task, so a fleet's open runs should all fit.
   */
  maxCachedWorkflows?: number;
  /** How often waits (node Ready, pods gone, upgrade finished) look again; default 2 s. */
  pollIntervalMs?: number;
  clusters: Record<string, ClusterAccess>;
  talosctl: string;
  terraform: string;
  sops: string;
  /** A release list of the user's own (TALOS_UPGRADE_RELEASES_URL), read instead of GitHub's releases. */
  releasesUrl?: string;
  /** siderolabs/talos's releases from github.com's API (TALOS_UPGRADE_RELEASES_API_URL; a token optional). */
  talosReleases: GitHubReleases;
  /** kubernetes/kubernetes's releases, from the same API. */
  kubernetesReleases: GitHubReleases;
  /** Where delivered merges are read (GitHub's contents API or git mirrors). */
  repositorySource: FileSource;
}

export class WorkerConfigError extends Error {}

async function mustExist(path: string, what: string): Promise<string> {
  try {
    await access(path);
    return path;
  } catch {
    throw new WorkerConfigError(`${what} not found at ${path}`);
  }
}

/**
 * Where a cluster's kubeconfig and talosconfig live. With a credentials directory (a mounted secret),
 * `<dir>/<cluster>/kubeconfig` and `<dir>/<cluster>/talosconfig`; for a single cluster, KUBECONFIG
 * and TALOSCONFIG also do. Only the paths are kept; the files are read by the activities.
 */
async function credentialsOf(
  cluster: string,
  single: boolean,
  options: WorkerOptions,
  env: NodeJS.ProcessEnv,
): Promise<{ kubeconfig: string; talosconfig: string }> {
  const dir = options.credentialsDir ?? env.TALOS_UPGRADE_CREDENTIALS_DIR;
  if (dir) {
    return {
      kubeconfig: await mustExist(join(dir, cluster, 'kubeconfig'), `the kubeconfig of ${cluster}`),
      talosconfig: await mustExist(join(dir, cluster, 'talosconfig'), `the talosconfig of ${cluster}`),
    };
  }
  if (single && env.KUBECONFIG && env.TALOSCONFIG) {
    return {
      kubeconfig: await mustExist(env.KUBECONFIG, 'KUBECONFIG'),
      talosconfig: await mustExist(env.TALOSCONFIG, 'TALOSCONFIG'),
    };
  }
  throw new WorkerConfigError(
    `no credentials for cluster ${cluster}: pass --credentials-dir <dir> (or TALOS_UPGRADE_CREDENTIALS_DIR) ` +
      `holding ${cluster}/kubeconfig and ${cluster}/talosconfig` +
      (single ? ', or set KUBECONFIG and TALOSCONFIG' : ''),
  );
}

/**
 * Where the queue reads a delivered merge's versions file at both commits:
 *   TALOS_UPGRADE_SOURCE                 github (contents API, default) or git (mirror clones)
 *   GITHUB_TOKEN(_FILE), GITHUB_API_URL  for the github source (read access to contents)
 *   TALOS_UPGRADE_GIT_URL, TALOS_UPGRADE_GIT_CACHE  for the git source ({repo} = owner/name)
 */
export async function repositorySourceFromEnv(env: NodeJS.ProcessEnv): Promise<FileSource> {
  const mode = env.TALOS_UPGRADE_SOURCE ?? 'github';
  if (mode === 'github') {
    const token = await secretFromEnv(env, 'GITHUB_TOKEN');
    return githubContentsSource({
      apiUrl: env.GITHUB_API_URL ?? 'https://api.github.com',
      ...(token ? { token } : {}),
    });
  }
  if (mode === 'git')
    return gitCloneSource({
      urlTemplate: env.TALOS_UPGRADE_GIT_URL ?? 'https://github.com/{repo}.git',
      cacheDir: env.TALOS_UPGRADE_GIT_CACHE ?? join(homedir(), '.cache', 'talos-upgrade', 'git'),
    });
  throw new WorkerConfigError(`TALOS_UPGRADE_SOURCE: expected github or git, got ${mode}`);
}

/** A whole-number variable of at least `min`, or undefined when unset; digits only ("1e3" is refused). */
function wholeNumberFromEnv(env: NodeJS.ProcessEnv, name: string, min: number): number | undefined {
  const value = env[name];
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < min)
    throw new WorkerConfigError(`${name} must be a whole number of ${min} or more (got "${value}")`);
  return Number(value);
}

/** A duration variable in milliseconds (e.g. 15s, 500ms), or undefined when unset. */
function durationFromEnv(env: NodeJS.ProcessEnv, name: string, example: string): number | undefined {
  const value = env[name];
  if (value === undefined) return undefined;
  const ms = parseDuration(value);
  if (!ms) throw new WorkerConfigError(`${name} must be a duration such as ${example} (got "${value}")`);
  return ms;
}

/** The worker's whole configuration from its flags and environment; a clear error for each gap. */
export async function loadWorkerConfig(
  options: WorkerOptions,
  env: NodeJS.ProcessEnv = process.env,
): Promise<WorkerConfig> {
  if (options.inventory.length === 0) throw new WorkerConfigError('give at least one --inventory <file>');
  const clusters: Record<string, ClusterAccess> = {};
  for (const file of options.inventory) {
    const inventory = await loadInventoryFile(file);
    const name = inventory.cluster.name;
    if (clusters[name]) throw new WorkerConfigError(`cluster ${name} is in two inventories (${file})`);
    clusters[name] = {
      inventory,
      baseDir: dirname(resolve(file)),
      ...(await credentialsOf(name, options.inventory.length === 1, options, env)),
    };
  }
  const metrics = options.metrics ?? env.TALOS_UPGRADE_METRICS ?? '127.0.0.1:9464';
  const maxConcurrentActivities = wholeNumberFromEnv(env, 'TALOS_UPGRADE_MAX_CONCURRENT_ACTIVITIES', 1) ?? 20;
  const maxCachedWorkflows = wholeNumberFromEnv(env, 'TALOS_UPGRADE_MAX_CACHED_WORKFLOWS', 2);
  const gaugeIntervalMs = durationFromEnv(env, 'TALOS_UPGRADE_METRICS_INTERVAL', '15s') ?? 15_000;
  const pollIntervalMs = durationFromEnv(env, 'TALOS_UPGRADE_POLL_INTERVAL', '2s or 500ms');
  return {
    temporal: await temporalSettings(env),
    ...(metrics === 'off' ? {} : { metricsAddress: metrics }),
    gaugeIntervalMs,
    logLevel: env.TALOS_UPGRADE_LOG_LEVEL ?? 'info',
    maxConcurrentActivities,
    ...(maxCachedWorkflows ? { maxCachedWorkflows } : {}),
    ...(pollIntervalMs ? { pollIntervalMs } : {}),
    clusters,
    talosctl: env.TALOSCTL ?? 'talosctl',
    terraform: env.TERRAFORM ?? 'terraform',
    sops: env.SOPS ?? 'sops',
    ...(env.TALOS_UPGRADE_RELEASES_URL ? { releasesUrl: env.TALOS_UPGRADE_RELEASES_URL } : {}),
    talosReleases: await talosReleasesFromEnv(env),
    kubernetesReleases: await kubernetesReleasesFromEnv(env),
    repositorySource: await repositorySourceFromEnv(env),
  };
}

export function activityDeps(config: WorkerConfig, readSecret: ActivityDeps['readSecret']): ActivityDeps {
  return {
    clusters: config.clusters,
    talosctl: config.talosctl,
    terraform: config.terraform,
    sops: config.sops,
    ...(config.releasesUrl ? { releasesUrl: config.releasesUrl } : {}),
    talosReleases: config.talosReleases,
    kubernetesReleases: config.kubernetesReleases,
    ...(config.pollIntervalMs ? { pollIntervalMs: config.pollIntervalMs } : {}),
    repositorySource: config.repositorySource,
    readSecret,
  };
}
