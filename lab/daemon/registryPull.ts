import { setTimeout as delay } from 'node:timers/promises';
import type { LabNode } from '../state/labState.js';
import { registryHas } from './installerImage.js';
import type { LabCluster } from './labCluster.js';

/**
 * A node's pull of an image (an installer, or a Kubernetes component's that upgrade-k8s pre-pulls), as
 * Talos retries it (internal/pkg/containers/image/image.go Pull, at v1.11.3, v1.12.5 and v1.13.8):
 * go-retry's Exponential over PullTimeout (20 minutes) in units of PullRetryInterval (5 s), so waits of
 * 0, 5, 15, 35, 75 … s, each distinct failure kept; every error is retried but NotFound, which ends it
 * after MaxNotFoundRetries (the legacy upgrade's 1, ImageService's and the legacy ImagePull's 0).
 * Nothing reads a 429's Retry-After: containerd's resolver re-sends a 429 at once a few times
 * (core/remotes/docker/resolver.go), then Talos's own backoff applies. When the budget ends the error
 * is go-retry's set: "N error(s) occurred:" and each distinct error on its own line, "timeout" last.
 *
 * The lab plays the budget scaled: the fault's --seconds (20 by default: a minute of Talos's per
 * second), the units in the same ratio (1/240 of the budget). The pull runs in its RPC's context: a
 * caller that gives up first (talosctl's --timeout, a deadline; or gone) ends it, and whatever was to
 * follow the pull (an upgrade) never starts. Nobody reads that set (the caller is gone): the lab ends
 * it in `context canceled` for both.
 */
export async function pullFromRegistry(
  lab: LabCluster,
  node: LabNode,
  image: string,
  options: { pullSeconds: number; notFoundRetries: number; signal: AbortSignal },
): Promise<PullFailure | undefined> {
  const { signal } = options;
  const cancelled = (errors: string[]) => ({
    notFound: false,
    errors: errorSet([...errors, 'context canceled']),
  });
  const budgetMs = (lab.activeFault('registry-down', node)?.seconds ?? 20) * 1000;
  const unitMs = budgetMs / 240;
  const started = Date.now();
  const errors: string[] = [];
  let notFounds = 0;
  for (let attempt = 0; ; attempt++) {
    const failed = registryAnswer(lab, node, image);
    if (!failed && registryHas(lab, image)) {
      if (!(await waitUnlessAborted(options.pullSeconds * 1000, signal))) return cancelled(errors);
      return undefined;
    }
    const error =
      failed ??
      `failed to pull image "${image}": failed to resolve reference "${image}": ${image}: not found`;
    if (!errors.includes(error)) errors.push(error);
    if (!failed && ++notFounds > options.notFoundRetries) return { notFound: true, errors: errorSet(errors) };
    // go-retry's tick, truncated to whole units (0, 5, 15, 35 … s at Talos's scale); the context's
    // deadline ends the last wait, and the set ends with it.
    const waitMs = Math.floor((2 ** (attempt + 1) - 1) / 2) * unitMs;
    const left = budgetMs - (Date.now() - started);
    if (waitMs >= left) {
      if (!(await waitUnlessAborted(Math.max(0, left), signal))) return cancelled(errors);
      return { notFound: false, errors: errorSet([...errors, 'timeout']) };
    }
    if (!(await waitUnlessAborted(waitMs, signal))) return cancelled(errors);
  }
}

/** Waits `ms`; false when the caller gave up first (at once if it already had). */
const waitUnlessAborted = (ms: number, signal: AbortSignal): Promise<boolean> =>
  delay(ms, true, { signal }).catch(() => false);

/** A pull that ended without the image: whether for NotFound, and go-retry's error set. */
export interface PullFailure {
  notFound: boolean;
  errors: string;
}

const errorSet = (errors: string[]) =>
  `${errors.length} error(s) occurred:\n${errors.map((e) => `\t${e}`).join('\n')}`;

/** What the registry answers a resolve of the image now, when it fails: containerd's words for it. */
function registryAnswer(lab: LabCluster, node: LabNode, image: string): string | undefined {
  const [host = '', ...path] = image.split('/');
  const [repository = '', tag = ''] = path.join('/').split(':');
  const head = `unexpected status from HEAD request to http://${host}/v2/${repository}/manifests/${tag}`;
  const failure = (status: string) =>
    `failed to pull image "${image}": failed to resolve reference "${image}": ${head}: ${status}`;
  if (lab.fire('registry-down', node)) return failure('503 Service Unavailable');
  if (lab.fire('registry-throttled', node)) return failure('429 Too Many Requests');
  return undefined;
}
