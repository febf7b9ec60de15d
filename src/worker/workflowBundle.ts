import { fileURLToPath } from 'node:url';

/**
 * What every worker of the product runs as workflow code: the workflows and the interceptor that
 * summarises their activities for the Web UI. The worker, the tests' workers and the replay check
 * share it, so each replays exactly what runs.
 */
export const workflowBundle = {
  workflowsPath: fileURLToPath(new URL('../workflows/index.ts', import.meta.url)),
  interceptors: {
    workflowModules: [fileURLToPath(new URL('../workflows/interceptors.ts', import.meta.url))],
  },
};
