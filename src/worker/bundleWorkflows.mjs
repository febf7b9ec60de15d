// Builds the workflow bundle in a process of its own, so that webpack's memory (hundreds of MiB)
// never becomes the worker's: `node bundleWorkflows.mjs <workflows.ts> <interceptors.ts> <out.js>`.
// Written whole (bundleCache.mjs): two workers starting at once never read a half-written bundle.
import { writeFile } from 'node:fs/promises';
import { bundleWorkflowCode } from '@temporalio/worker';
import { writeWhole } from './bundleCache.mjs';

const [workflowsPath, interceptorsPath, out] = process.argv.slice(2);
if (!workflowsPath || !interceptorsPath || !out) {
  console.error('usage: bundleWorkflows.mjs <workflows.ts> <interceptors.ts> <out.js>');
  process.exit(2);
}
const { code } = await bundleWorkflowCode({ workflowsPath, workflowInterceptorModules: [interceptorsPath] });
await writeWhole(out, (partial) => writeFile(partial, code));
