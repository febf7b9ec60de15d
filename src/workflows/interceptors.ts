import type { WorkflowInterceptorsFactory } from '@temporalio/workflow';
import { activitySummary } from './activitySummary.js';

/**
 * Gives every activity the workflows schedule a one-line summary for the Web UI, unless its call set
 * one. User metadata only: it changes no command, so histories recorded without it replay the same.
 */
export const interceptors: WorkflowInterceptorsFactory = () => ({
  outbound: [
    {
      scheduleActivity: (input, next) =>
        next({
          ...input,
          options: {
            ...input.options,
            summary: input.options.summary ?? activitySummary(input.activityType, input.args),
          },
        }),
      scheduleLocalActivity: (input, next) =>
        next({
          ...input,
          options: {
            ...input.options,
            summary: input.options.summary ?? activitySummary(input.activityType, input.args),
          },
        }),
    },
  ],
});
