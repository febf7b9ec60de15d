import { z } from 'zod';
import { parseVersion, VersionError } from './version.js';

/**
 * What a workflow accepts from outside (the CLI, the webhook, the temporal CLI, the Web UI's "Send a
 * Signal"): checked here, so a malformed request ends as InvalidRequest with its reason and never
 * becomes an error in workflow code, whose task Temporal would retry forever.
 */

const version = z.string().transform((input, ctx) => {
  try {
    return parseVersion(input);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: error instanceof VersionError ? error.message : String(error) });
    return z.NEVER;
  }
});

const change = z.object({ from: version.optional(), to: version }).strict();
const strategy = z.enum(['pets', 'cattle']);
const text = z.string().min(1);

export const upgradeRequestSchema = z
  .object({
    requestId: text,
    cluster: text,
    talos: change,
    kubernetes: change.optional(),
    strategy: strategy.optional(),
    strategyNote: z.string().optional(),
    source: text,
    // Plan and pre-flight only: the run ends `dry-run` (or refused) with nothing touched.
    dryRun: z.boolean().optional(),
    // Only these nodes (`start --nodes`): each named once.
    nodes: z
      .array(text)
      .min(1)
      .refine((names) => new Set(names).size === names.length, 'a node is named twice')
      .optional(),
    // The merge commit it was read from: the worker's clone is brought there before Terraform runs.
    commit: z
      .string()
      .regex(/^[0-9a-f]{7,64}$/, { error: 'expected a commit sha' })
      .optional(),
  })
  .strict();

/** `start --merge <commit> --dry-run`: the cluster, the commit as typed (a sha or a branch), who asked. */
export const mergeDryRunSchema = z
  .object({ cluster: text, commit: z.string().regex(/^[\w./-]{1,255}$/), source: text })
  .strict();

export const deliveredMergeSchema = z
  .object({
    requestId: text,
    cluster: text,
    delivery: z
      .object({
        repository: text,
        before: z.string().regex(/^[0-9a-f]{7,64}$/, { error: 'expected a commit sha' }),
        after: z.string().regex(/^[0-9a-f]{7,64}$/, { error: 'expected a commit sha' }),
        event: z.enum(['pull_request', 'push', 'poll']),
        id: z.string().optional(),
      })
      .strict(),
    strategy: strategy.optional(),
    strategyNote: z.string().optional(),
    source: text,
  })
  .strict();

/** The schema of an item for a cluster's queue: a delivered merge (it has `delivery`), or a request. */
export function queuedItemSchema(value: unknown): typeof deliveredMergeSchema | typeof upgradeRequestSchema {
  return typeof value === 'object' && value !== null && 'delivery' in value
    ? deliveredMergeSchema
    : upgradeRequestSchema;
}

/**
 * An operator's answer: who (the name typed), the identity it names (what policy.approval.approvers is
 * checked against; the CLI sends its Temporal client's), and a comment or reason.
 */
export const operatorAnswerSchema = z
  .object({
    by: text,
    identity: text.optional(),
    comment: z.string().optional(),
    reason: z.string().optional(),
  })
  .strict();
export type OperatorAnswer = z.output<typeof operatorAnswerSchema>;

/** The value if it fits the schema, else one line naming each field that does not and why. */
export function checkInput<S extends z.ZodType>(
  schema: S,
  value: unknown,
): { ok: true; value: z.output<S> } | { ok: false; reason: string } {
  const parsed = schema.safeParse(value);
  if (parsed.success) return { ok: true, value: parsed.data };
  const reason = parsed.error.issues
    .map((issue) => `${issue.path.length ? issue.path.join('.') : '(the request)'}: ${issue.message}`)
    .join('; ');
  return { ok: false, reason };
}
