#!/usr/bin/env node
// Runs the TypeScript sources directly (through tsx), so a fresh clone needs no build step. The
// worker has its own entry: the operator CLI (src/starter) never loads the worker runtime.
import { register } from 'tsx/esm/api';

register();
if (process.argv[2] === 'worker') {
  const { workerMain } = await import('../src/worker/cli.ts');
  await workerMain(process.argv.slice(3));
} else {
  await import('../src/starter/cli.ts');
}
