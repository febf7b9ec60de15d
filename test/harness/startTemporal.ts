import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDevServer } from '../../lab/temporal/devServer.js';
import { SEARCH_ATTRIBUTES } from '../../src/domain/searchAttributes.js';
import { TEST_LOCKS_ENV } from './clusterQueueLock.js';
import { TEMPORAL_ADDRESS_ENV, TEMPORAL_WEB_UI_ENV } from './temporalEnv.js';

/** One real Temporal dev server for the whole jest run; test workers find it through the environment. */
export async function startTemporalForTests(): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'talos-upgrade-test-'));
  // With its Web UI (on a loopback port) for the browser test.
  const server = await startDevServer({ dataDir, searchAttributes: SEARCH_ATTRIBUTES, ui: true });
  process.env[TEMPORAL_ADDRESS_ENV] = server.address;
  process.env[TEMPORAL_WEB_UI_ENV] = server.uiUrl ?? '';
  process.env[TEST_LOCKS_ENV] = join(dataDir, 'locks');
  (globalThis as { __temporalDevServer?: typeof server }).__temporalDevServer = server;
  (globalThis as { __temporalDataDir?: string }).__temporalDataDir = dataDir;
}
