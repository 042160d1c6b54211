// ESLint flat config: type-aware rules everywhere, import boundaries for the deterministic folders.
import tseslint from 'typescript-eslint';

const nodeBuiltins = ['node:*', 'fs', 'path', 'os', 'crypto', 'child_process', 'net', 'http', 'https', 'events', 'timers', 'worker_threads'];

export default tseslint.config(
  { ignores: ['node_modules/**', '.data/**', 'load/k6/**', 'db/migrations/**', 'eslint.config.js'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      'no-restricted-properties': ['error', { object: 'Math', property: 'random', message: 'Use a seeded or injected source.' }],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    ignores: ['workflows/**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: nodeBuiltins, message: 'Workflows are deterministic: no Node built-ins.' },
            { group: ['**/db/**', '**/activities/**', '**/api/**', '**/workers/**', 'postgres', 'ioredis', 'drizzle-orm', 'drizzle-orm/*'], message: 'Workflows do no I/O: call an activity.' },
          ],
        },
      ],
      'no-restricted-syntax': ['error', { selector: 'Literal[bigint]', message: 'No bigint in workflow payloads: use decimal strings.' }],
    },
  },
  {
    files: ['matching/**/*.ts'],
    ignores: ['matching/shard-lock.ts', 'matching/**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: [...nodeBuiltins, '../*', 'postgres', 'ioredis', 'drizzle-orm'], message: 'matching/ is a pure library: no I/O, no imports outside matching/.' }] },
      ],
      'no-restricted-globals': ['error', { name: 'Date', message: 'No clock in matching/: timestamps are arguments.' }],
    },
  },
);
