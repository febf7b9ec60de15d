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
  // The lab suites mostly wait on the lab's timers: with two at a time the 2 cores were still idle
  // about half of the run (vmstat, 2026-11-25), so three share them (jest's default there is one),
  // the longest first (test/harness/sequencer.mjs).
  maxWorkers: 3,
  testSequencer: '<rootDir>/test/harness/sequencer.mjs',
};
