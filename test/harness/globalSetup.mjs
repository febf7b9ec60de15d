// Jest loads global setup outside its own transform pipeline, so the TypeScript is loaded with tsx.
import { tsImport } from 'tsx/esm/api';

export default async function globalSetup() {
  const { startTemporalForTests } = await tsImport('./startTemporal.ts', import.meta.url);
  await startTemporalForTests();
}
