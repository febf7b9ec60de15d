import { CANCEL_GRACE } from '../activities/runCommand.js';

/**
 * How long a worker asked to stop (SIGTERM, SIGINT) lets its steps run on before it cancels them. A
 * cancelled Terraform run then gets CANCEL_GRACE.graceful to finish its write and release the state
 * lock: whatever stops the worker (a container's stop grace, a unit's TimeoutStopSec) must wait for
 * both, STOP_GRACE_MS, or it kills Terraform in the middle of a write.
 */
export const SHUTDOWN_GRACE_MS = 30_000;
export const STOP_GRACE_MS = SHUTDOWN_GRACE_MS + CANCEL_GRACE.graceful;
