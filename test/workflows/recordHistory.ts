import { mkdir, writeFile } from 'node:fs/promises';
import { showWorkflowJson } from '../harness/temporalEnv.js';

export const HISTORIES_DIR = new URL('../replay/histories/', import.meta.url);

/**
 * With TALOS_UPGRADE_RECORD_HISTORIES=1, saves a finished run's history as a replay fixture
 * (test/replay/histories/<name>.json): the workflow id and the history in the JSON form
 * `temporal workflow show -o json` prints.
 * Re-record after an intended, versioned workflow change; the replay test then guards the recorded
 * behaviour against accidental non-determinism.
 */
export async function recordHistory(workflowId: string, name: string): Promise<void> {
  if (process.env.TALOS_UPGRADE_RECORD_HISTORIES !== '1') return;
  // The workflow id is part of what replays: child ids are derived from it.
  const history = JSON.parse(await showWorkflowJson(workflowId)) as unknown;
  await mkdir(HISTORIES_DIR, { recursive: true });
  await writeFile(new URL(`${name}.json`, HISTORIES_DIR), JSON.stringify({ workflowId, history }) + '\n');
}
