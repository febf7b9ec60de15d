/**
 * Replays every recorded history in test/replay/histories against today's workflow code and prints
 * one line per history; exits 1 on any non-determinism. Runs as its own process (outside jest's
 * module sandbox, which breaks protobuf's JSON decoding). The jest suite test/replay calls it.
 */
import { workflowBundle } from '../src/worker/workflowBundle.js';
import { readdir, readFile } from 'node:fs/promises';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';

// The bundler's and the replay worker's INFO lines would bury the verdicts.
Runtime.install({ logger: new DefaultLogger('WARN') });

const dir = new URL('../test/replay/histories/', import.meta.url);
// Every history shape the workflow code still accepts, recorded from real lab runs.
const files = (await readdir(dir, { recursive: true })).filter((f) => f.endsWith('.json')).sort();
const histories = await Promise.all(
  files.map(async (file) => {
    const recorded = JSON.parse(await readFile(new URL(file, dir), 'utf8')) as {
      workflowId: string;
      history: unknown;
    };
    return { workflowId: recorded.workflowId, history: recorded.history, file };
  }),
);
let failed = 0;
for await (const result of Worker.runReplayHistories(await workflowBundle(), histories)) {
  if (result.error) failed++;
  console.log(
    `${result.error ? 'FAIL' : 'ok  '} ${result.workflowId}${result.error ? `: ${String(result.error)}` : ''}`,
  );
}
console.log(`${files.length - failed}/${files.length} histories replayed`);
process.exitCode = failed ? 1 : 0;
