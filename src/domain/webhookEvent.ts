import { z } from 'zod';
import type { Inventory } from './inventory/index.js';
import type { Strategy } from './strategy.js';

/** What a GitHub delivery asks of us, decided from the event name and payload alone (no I/O). */
export type WebhookIntent =
  | { kind: 'ping'; zen: string }
  | { kind: 'ignore'; reason: string }
  | { kind: 'invalid'; reason: string }
  | {
      kind: 'compare';
      repository: string;
      /** The commit before the change and the merge commit (or pushed head) after it. */
      before: string;
      after: string;
      strategy?: Strategy;
      /** Why the labels set no strategy, when they name both: the plan's policy decides per hop. */
      strategyNote?: string;
      /** Who caused it, for the run's history: "pull request #12 by renovate[bot]". */
      source: string;
      /** The clusters of this repository, with the path of their versions file. */
      clusters: Array<{ name: string; file: string }>;
    };

const sha = z.string().regex(/^[0-9a-f]{40}$/);
const repository = z.looseObject({ full_name: z.string().min(1), default_branch: z.string().min(1) });

const pullRequestPayload = z.looseObject({
  action: z.string(),
  repository,
  pull_request: z.looseObject({
    number: z.number().int(),
    merged: z.boolean().nullish(),
    merge_commit_sha: sha.nullish(),
    base: z.looseObject({ ref: z.string(), sha }),
    labels: z.array(z.looseObject({ name: z.string() })).default([]),
    user: z.looseObject({ login: z.string() }).nullish(),
  }),
});

const pushPayload = z.looseObject({
  ref: z.string(),
  before: sha,
  after: sha,
  deleted: z.boolean().optional(),
  repository,
  pusher: z.looseObject({ name: z.string() }).nullish(),
});

const ZERO_SHA = /^0{40}$/;

/**
 * The clusters whose inventory names this repository and follows this branch
 * (`repository.defaultBranch`), or why none: a merge into any other branch changes no cluster.
 */
function clustersOf(
  repo: string,
  branch: string,
  inventories: readonly Inventory[],
): { clusters: Array<{ name: string; file: string }> } | { ignore: string } {
  const named = inventories.filter((inv) => inv.repository?.github.toLowerCase() === repo.toLowerCase());
  if (named.length === 0) return { ignore: `no inventory names the repository ${repo}` };
  const following = named.filter((inv) => inv.repository?.defaultBranch === branch);
  if (following.length === 0)
    return {
      ignore: `${branch} is not the branch the inventories of ${repo} follow (${[
        ...new Set(named.map((inv) => inv.repository?.defaultBranch)),
      ].join(', ')}: repository.defaultBranch)`,
    };
  return { clusters: following.map((inv) => ({ name: inv.cluster.name, file: inv.versions.file })) };
}

/**
 * The strategy a pull request's labels ask for. Both labels come from real Renovate when one branch
 * carries a patch and a minor (two clusters' variables in one file, a config without
 * separateMinorPatch): that asks for nothing, and each hop takes its policy's strategy.
 */
function strategyFromLabels(labels: Array<{ name: string }>): { strategy?: Strategy; note?: string } {
  const names = new Set(labels.map((l) => l.name));
  const pets = names.has('upgrade-pets');
  const cattle = names.has('upgrade-cattle');
  if (pets && cattle)
    return {
      note: 'labels upgrade-pets and upgrade-cattle both present: each hop takes the policy strategy',
    };
  return pets ? { strategy: 'pets' } : cattle ? { strategy: 'cattle' } : {};
}

function shapeError(event: string, error: z.ZodError): WebhookIntent {
  const issue = error.issues[0];
  return {
    kind: 'invalid',
    reason: `not a ${event} payload: ${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'unexpected shape'}`,
  };
}

/**
 * Decides what a delivery means: a merged pull request into the default branch or a push to it, in
 * a repository that some inventory names, becomes a comparison of the versions file before and
 * after; everything else is ignored with the reason, or refused as invalid.
 */
export function interpretDelivery(
  event: string,
  payload: unknown,
  inventories: readonly Inventory[],
): WebhookIntent {
  if (event === 'ping') {
    const zen = z.looseObject({ zen: z.string() }).safeParse(payload);
    return { kind: 'ping', zen: zen.success ? zen.data.zen : '' };
  }
  if (event === 'pull_request') {
    const parsed = pullRequestPayload.safeParse(payload);
    if (!parsed.success) return shapeError(event, parsed.error);
    const { action, repository: repo, pull_request: pr } = parsed.data;
    if (action !== 'closed') return { kind: 'ignore', reason: `pull request ${action}, not closed` };
    if (!pr.merged || !pr.merge_commit_sha)
      return { kind: 'ignore', reason: `pull request #${pr.number} was closed without merging` };
    const target = clustersOf(repo.full_name, pr.base.ref, inventories);
    if ('ignore' in target)
      return {
        kind: 'ignore',
        reason: `pull request #${pr.number} merged into ${pr.base.ref}: ${target.ignore}`,
      };
    const { clusters } = target;
    const { strategy, note } = strategyFromLabels(pr.labels);
    return {
      kind: 'compare',
      repository: repo.full_name,
      before: pr.base.sha,
      after: pr.merge_commit_sha,
      ...(strategy ? { strategy } : {}),
      ...(note ? { strategyNote: `pull request #${pr.number}: ${note}` } : {}),
      source: `pull request #${pr.number}${pr.user ? ` by ${pr.user.login}` : ''} in ${repo.full_name}`,
      clusters,
    };
  }
  if (event === 'push') {
    const parsed = pushPayload.safeParse(payload);
    if (!parsed.success) return shapeError(event, parsed.error);
    const { ref, before, after, deleted, repository: repo, pusher } = parsed.data;
    if (!ref.startsWith('refs/heads/')) return { kind: 'ignore', reason: `push to ${ref}, not a branch` };
    const branch = ref.slice('refs/heads/'.length);
    const target = clustersOf(repo.full_name, branch, inventories);
    if ('ignore' in target) return { kind: 'ignore', reason: `push to ${branch}: ${target.ignore}` };
    if (deleted || ZERO_SHA.test(after)) return { kind: 'ignore', reason: 'the branch was deleted' };
    if (ZERO_SHA.test(before)) return { kind: 'ignore', reason: 'a new branch: nothing to compare with' };
    const { clusters } = target;
    return {
      kind: 'compare',
      repository: repo.full_name,
      before,
      after,
      source: `push to ${branch}${pusher ? ` by ${pusher.name}` : ''} in ${repo.full_name}`,
      clusters,
    };
  }
  return { kind: 'ignore', reason: `event ${event || '(none)'} is not handled` };
}
