// Jest runs TypeScript through swc as native ESM; the Temporal dev server is started once per run.
/** @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': [
      '@swc/jest',
      { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'es6' } },
    ],
  },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  // Built tools (Renovate's own package.json among them) and lab state are no modules of ours.
  modulePathIgnorePatterns: ['<rootDir>/.tools/', '<rootDir>/.lab/', '<rootDir>/.demo/', '<rootDir>/.cache/'],
  globalSetup: '<rootDir>/test/harness/globalSetup.mjs',
  globalTeardown: '<rootDir>/test/harness/globalTeardown.mjs',
  testTimeout: 120_000,
  // The lab suites mostly wait on the lab's timers. Two at a time left the 2 cores idle about half
  // of the run (vmstat, 2026-11-25); three still left them 40 % idle once the commands stopped going
  // through tsx (2026-11-27). Four took a clean clone's jest from 1396-1471 s to 1177 s, every suite
  // passing; each suite ran 6-10 % slower, the run 18 % faster. Jest's default here would be one.
  // The longest go first (test/harness/sequencer.mjs).
  maxWorkers: 4,
  testSequencer: '<rootDir>/test/harness/sequencer.mjs',
};
