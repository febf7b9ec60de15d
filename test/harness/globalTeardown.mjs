import { tsImport } from 'tsx/esm/api';

export default async function globalTeardown() {
  const { stopTemporalForTests } = await tsImport('./stopTemporal.ts', import.meta.url);
  await stopTemporalForTests();
}
