import type { WorkflowInterceptorsFactory } from '@temporalio/workflow';
import { activitySummary } from './activitySummary.js';

/** The call with a summary of its activity, unless the call set one itself. */
function withSummary<T extends { activityType: string; args: unknown[]; options: { summary?: string } }>(
  input: T,
): T {
  const summary = input.options.summary ?? activitySummary(input.activityType, input.args);
  return { ...input, options: { ...input.options, summary } };
}

/**
 * Gives every activity the workflows schedule, remote or local, a one-line summary for the Web UI.
 * User metadata only: it changes no command, so histories recorded without it replay the same.
 */
export const interceptors: WorkflowInterceptorsFactory = () => ({
  outbound: [
    {
      scheduleActivity: (input, next) => next(withSummary(input)),
      scheduleLocalActivity: (input, next) => next(withSummary(input)),
    },
  ],
});
