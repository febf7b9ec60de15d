// Lint rules that keep the layers honest: workflow code must stay deterministic, so it may not
// reach Node built-ins or packages that do I/O; promises must never be left floating.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';
import globals from 'globals';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((name) => `node:${name}`)];

export default tseslint.config(
  {
    ignores: [
      'node_modules/**',
      '.tools/**',
      '.lab/**',
      '.cache/**',
      '.demo/**',
      'dist/**',
      'coverage/**',
      'scratch/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: {
          allowDefaultProject: ['*.js', 'bin/*.js', 'bin/lib/*.js', 'lab/bin/*.js', 'test/harness/*.mjs'],
        },
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      // Activities are async by contract even when their body has nothing to await.
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  { files: ['**/*.js', '**/*.mjs'], ...tseslint.configs.disableTypeChecked },
  { files: ['**/*.js', '**/*.mjs'], languageOptions: { globals: globals.node } },
  {
    files: ['src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/lab/**'], message: 'src/ never imports the lab' }] },
      ],
    },
  },
  // The blocks below replace the one above for their folders, so each repeats the lab ban.
  {
    files: ['src/workflows/**/*.ts', 'test/fixtures/*Workflows.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({
            name,
            message: 'workflow code must be deterministic: do I/O in an activity',
          })),
          patterns: [
            {
              group: ['@temporalio/client', '@temporalio/worker', '@temporalio/activity'],
              message: 'workflows may import @temporalio/workflow only',
            },
            {
              group: ['execa', '@kubernetes/client-node', 'pino', 'commander'],
              message: 'workflows may not import I/O packages',
            },
            {
              group: ['**/starter/**', '**/worker/**', '**/lab/**'],
              message: 'workflows may import src/domain and activity types only',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/workflows/**/*.ts', 'test/fixtures/*Workflows.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/activities/**'],
              allowTypeImports: true,
              message: 'workflows import activity TYPES only (import type ...)',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/domain/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({ name, message: 'src/domain is pure: no I/O' })),
          patterns: [
            {
              group: [
                '**/activities/**',
                '**/workflows/**',
                '**/worker/**',
                '**/starter/**',
                '**/lab/**',
                '@temporalio/*',
                'execa',
                '@kubernetes/client-node',
              ],
              message: 'src/domain imports nothing with I/O',
            },
          ],
        },
      ],
    },
  },
);
