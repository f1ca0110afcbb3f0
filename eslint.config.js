/**
 * `npm run lint`: ESLint's and typescript-eslint's recommended rules, plus the two type-aware
 * rules that catch what the compiler does not: a promise nobody waits for or catches
 * (no-floating-promises) and an async function where a callback's result is ignored, such as an
 * event listener, where its rejection goes unhandled (no-misused-promises).
 */
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// A leading underscore names a parameter or binding that is there on purpose (an interface's
// argument, a property left out of a copy).
const UNUSED_VARS = { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', ignoreRestSiblings: true };

/** Findings in files other people are changing right now, left to them: warnings until cleared. */
const BUSY = ['server/calls/**', 'server/media/**', 'server/sip/**', 'web/src/**'];

export default tseslint.config(
  { ignores: ['node_modules/', 'web/dist/', 'data/', 'dist/', 'test-artifacts/', 'bench-results/'] },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.tsx'],
    languageOptions: {
      parserOptions: {
        project: ['./tsconfig.json', './web/tsconfig.json', './web/tsconfig.node.json'],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // node:test's test() and describe() return promises the runner itself waits for.
      '@typescript-eslint/no-floating-promises': ['error', { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite'] }] }],
      '@typescript-eslint/no-misused-promises': 'error',
    },
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', UNUSED_VARS],
      // A variable a closure reads before its one assignment (a timer its own stop function clears)
      // cannot be const.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },
  {
    // The sandbox's declarations: a global script, in no TypeScript program of the repository.
    files: ['contract/dialplan-api.d.ts'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    // Kysely's own advice for migrations: they run against the schema of their time, not today's
    // Database type, so they take Kysely<any>.
    files: ['server/store/migrations/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: BUSY,
    rules: {
      '@typescript-eslint/no-unused-vars': ['warn', UNUSED_VARS],
      '@typescript-eslint/no-misused-promises': 'warn',
      'no-control-regex': 'warn',
    },
  },
);
