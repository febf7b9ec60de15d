import { rm } from 'node:fs/promises';
import type { DevServer } from '../../lab/temporal/devServer.js';

export async function stopTemporalForTests(): Promise<void> {
  const state = globalThis as { __temporalDevServer?: DevServer; __temporalDataDir?: string };
  await state.__temporalDevServer?.stop();
  if (state.__temporalDataDir) await rm(state.__temporalDataDir, { recursive: true, force: true });
}
