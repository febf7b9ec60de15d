/** The SDK's default number of workflow tasks a worker runs at once. */
const SDK_WORKFLOW_TASK_SLOTS = 40;

/**
 * Workflow tasks the worker runs at once: as many as activities (the SDK's 40 at least), within the
 * workflow cache. A workflow task keeps its slot until its local activities are done (a node's health
 * gate, its quick reads: sdk-core holds the task's permit through them), so a fleet's gates could
 * hold all 40 slots while other runs' tasks waited: on the sticky queue past its 10 s (schedule-to-start
 * timeouts, the task sent again with the whole history) or, taken, past their own 10 s (start-to-close
 * timeouts, the run evicted and replayed, its unfinished local activities run again). sdk-core hands out
 * no more task slots than the cache holds, silently; with the cache unset, the SDK's default (from the
 * heap limit: about 210 runs at 512 MiB) may be the smaller, so the worker's ready log names the number
 * that applies.
 */
export function workflowTaskSlots(config: {
  maxConcurrentActivities: number;
  maxCachedWorkflows?: number;
}): number {
  const wanted = Math.max(SDK_WORKFLOW_TASK_SLOTS, config.maxConcurrentActivities);
  return config.maxCachedWorkflows ? Math.min(wanted, config.maxCachedWorkflows) : wanted;
}
