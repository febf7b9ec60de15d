#!/usr/bin/env node
// Runs the TypeScript sources, bundled once per source version (bin/lib/entryBundle.js), so a fresh
// clone needs no build step. The worker has its own entry: the operator CLI (src/starter) never
// loads the worker runtime.
import { endQuietlyOnClosedPipe } from './lib/closedPipe.js';
import { importEntry } from './lib/entryBundle.js';

if (process.argv[2] === 'worker') {
  const { workerMain } = await importEntry('src/worker/cli.ts');
  await /** @type {(args: string[]) => Promise<void>} */ (workerMain)(process.argv.slice(3));
} else if (process.argv[2] === 'doctor') {
  // The doctor runs the worker's own checks with the worker's configuration.
  const { doctorMain } = await importEntry('src/worker/doctor/cli.ts');
  await /** @type {(args: string[]) => Promise<void>} */ (doctorMain)(process.argv.slice(3));
} else {
  // The operator's commands only: a worker whose log reader goes away is a failure to see.
  endQuietlyOnClosedPipe();
  await importEntry('src/starter/cli.ts');
}
