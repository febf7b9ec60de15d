import { installerImage, installerImages } from '../domain/index.js';
import { boundedSignal, cancellationSignal, heartbeat, sleep } from './activityContext.js';
import type { ClusterHandle } from './deps.js';
import { nonRetryable, retryable } from './errors.js';

interface ImageRef {
  registry: string;
  repository: string;
  tag: string;
}

function parseImage(image: string): ImageRef {
  const slash = image.indexOf('/');
  const colon = image.lastIndexOf(':');
  return {
    registry: image.slice(0, slash),
    repository: image.slice(slash + 1, colon),
    tag: image.slice(colon + 1),
  };
}

/** Loopback registries speak plain HTTP, as container runtimes assume; everything else HTTPS. */
export function baseUrl(registry: string): string {
  return /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$/.test(registry)
    ? `http://${registry}`
    : `https://${registry}`;
}

const ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

/** Answers a `WWW-Authenticate: Bearer realm=…,service=…,scope=…` challenge with an anonymous token. */
async function anonymousToken(challenge: string, signal?: AbortSignal): Promise<string | undefined> {
  const params: Record<string, string> = {};
  for (const match of challenge.matchAll(/(\w+)="([^"]*)"/g)) params[match[1] ?? ''] = match[2] ?? '';
  if (!params.realm) return undefined;
  const url = new URL(params.realm);
  if (params.service) url.searchParams.set('service', params.service);
  if (params.scope) url.searchParams.set('scope', params.scope);
  const response = await fetch(url, { ...(signal ? { signal } : {}) });
  if (!response.ok) return undefined;
  const body = (await response.json()) as { token?: string; access_token?: string };
  return body.token ?? body.access_token;
}

export async function imageExists(image: string, timeoutMs = 60_000): Promise<boolean> {
  const ref = parseImage(image);
  const url = `${baseUrl(ref.registry)}/v2/${ref.repository}/manifests/${ref.tag}`;
  // Bounded outside an activity too (doctor): a registry that accepts and never answers is an outage.
  const signal = boundedSignal(timeoutMs);
  const head = (token?: string) =>
    fetch(url, {
      method: 'HEAD',
      headers: { Accept: ACCEPT, ...(token ? { Authorization: `Bearer ${token}` } : {}) },
      signal,
    });
  let response = await head();
  if (response.status === 401) {
    const token = await anonymousToken(response.headers.get('www-authenticate') ?? '', signal);
    if (token) response = await head(token);
  }
  if (response.status === 200) return true;
  if (response.status === 404) return false;
  throw retryable('TalosUnavailable', `${ref.registry} answered HTTP ${response.status} for ${image}`, {
    status: response.status,
  });
}

export function registryActivities(cluster: (name: string) => ClusterHandle) {
  /** Pre-flight: the installer image of every schematic in use exists for the target version. */
  async function checkInstallerImages(input: {
    cluster: string;
    version: string;
  }): Promise<{ images: string[] }> {
    const c = cluster(input.cluster);
    const images = installerImages(c.inventory, input.version);
    const missing: string[] = [];
    for (const image of images) {
      try {
        if (!(await imageExists(image))) missing.push(image);
      } catch (error) {
        if ((error as { type?: string }).type) throw error;
        throw retryable('TalosUnavailable', `checking ${image}: ${(error as Error).message}`);
      }
    }
    if (missing.length) {
      throw nonRetryable(
        'ImageMissing',
        `no installer image for Talos ${input.version}: ${missing.join(', ')}. Check the version and the schematic ids (images.schematics).`,
        { missing },
      );
    }
    return { images };
  }

  /**
   * Before the cordon of a node that pulls only in its upgrade call (Talos before 1.13, or
   * policy.installBeforeDrain false), while nothing of it has moved: its installer must be served
   * now. Talos pulls it only after our drain, inside the upgrade call, and retries a registry that
   * fails for up to 20 minutes (internal/pkg/containers/image/image.go, v1.11.3 and v1.12.5); each
   * call is cut at talosctl's --timeout (policy.nodeReadyTimeout), with the node drained all along. Three tries 5 s apart (each bounded at 20 s), then a refusal. A 429 is a
   * registry that answers: Talos backs off and may well get through, so it is no refusal here.
   */
  async function checkNodeInstaller(input: {
    cluster: string;
    node: string;
    version: string;
  }): Promise<{ image: string }> {
    const c = cluster(input.cluster);
    const image = installerImage(c.inventory, c.node(input.node), input.version);
    let why = '';
    for (let attempt = 1; attempt <= NODE_INSTALLER_TRIES; attempt++) {
      heartbeat({ node: input.node, step: 'checking the installer', image, attempt });
      const served = await imageExists(image, 20_000).catch((error: unknown) => error as Error);
      if (served === true) return { image };
      if (served === false)
        throw nonRetryable(
          'ImageMissing',
          `${input.node}: the registry no longer has its installer ${image}; nothing on ${input.node} was touched. Check the version and the node's schematic.`,
          { missing: [image] },
        );
      if (cancellationSignal()?.aborted) throw served;
      if ((served as { details?: Array<{ status?: number }> }).details?.[0]?.status === 429) return { image };
      const cause = (served as { cause?: unknown }).cause;
      why = `${served.message}${cause instanceof Error ? `: ${cause.message}` : ''}`;
      if (attempt < NODE_INSTALLER_TRIES) await sleep(5000);
    }
    throw nonRetryable(
      'RegistryUnavailable',
      `${input.node}: the registry did not serve its installer ${image} (${NODE_INSTALLER_TRIES} tries, 5 s apart: ${why}); nothing on ${input.node} was touched. Talos would pull it only after the drain, for up to 20 minutes. Check the registry or the mirror the nodes pull from, then run the upgrade again.`,
    );
  }
  return { checkInstallerImages, checkNodeInstaller };
}

/** Tries of a node's installer before its cordon (checkNodeInstaller), 5 s apart. */
const NODE_INSTALLER_TRIES = 3;
