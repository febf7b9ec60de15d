/** The SDK's default number of workflow tasks a worker runs at once. */
const SDK_WORKFLOW_TASK_SLOTS = 40;

/**
 * Workflow tasks the worker runs at once: as many as activities (the SDK's 40 at least), within the
 * workflow cache. A workflow task keeps its slot until its local activities are done (a node's health
 * gate, its quick reads: sdk-core holds the task's permit through them), so a fleet's gates could
 * hold all 40 slots while other runs' tasks waited: on the sticky queue past its 10 s (schedule-to-start
 * timeouts, the task sent again with the whole history) or, taken, past their own 10 s (start-to-close
 * timeouts, the run evicted and replayed, its unfinished local activities run again). The SDK cuts the
 * number to the cache's size with a warning; cut here, it says nothing.
 */
export function workflowTaskSlots(config: {
  maxConcurrentActivities: number;
  maxCachedWorkflows?: number;
}): number {
  const wanted = Math.max(SDK_WORKFLOW_TASK_SLOTS, config.maxConcurrentActivities);
  return config.maxCachedWorkflows ? Math.min(wanted, config.maxCachedWorkflows) : wanted;
}
