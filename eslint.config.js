// ESLint flat config: type-aware rules everywhere, the folder layout of the README ("Where things live")
// as import boundaries, no import cycles, and the determinism rules of workflows/ and matching/.
// test/lint-boundaries.test.ts shows each boundary refusing a forbidden import and accepting an allowed one.
import { createNodeResolver } from 'eslint-plugin-import-x';
import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

const nodeBuiltins = [
  'node:*',
  'fs',
  'path',
  'os',
  'crypto',
  'child_process',
  'net',
  'http',
  'https',
  'events',
  'timers',
  'worker_threads',
];

/**
 * Who may import what (the README's table). `only`: the folders a folder may import besides itself and npm
 * packages; `not`: the folders it may not import. Folders absent here (scripts/, test/) import anything.
 * Test files (*.test.ts) beside the code may also import the test harness and are not checked.
 */
export const LAYOUT = {
  temporal: { only: [] },
  lib: { only: ['temporal'] },
  matching: { only: [] },
  db: { only: ['lib', 'temporal'] },
  shard: { only: ['lib', 'db', 'matching', 'temporal'] },
  activities: { only: ['lib', 'db', 'temporal', 'shard'] },
  workflows: { only: ['temporal'] },
  workers: { not: ['api'] },
  api: { only: ['lib', 'db', 'temporal', 'matching'] },
  devstack: { only: ['lib', 'temporal'] },
  load: { not: ['test'] },
  web: { only: [] },
};

const list = (folders) => (folders.length ? folders.map((f) => `${f}/`).join(' ') : 'nothing of ours');

const boundaries = Object.entries(LAYOUT).map(([folder, rule]) => ({
  files: [`${folder}/**/*.ts`, `${folder}/**/*.tsx`],
  ignores: ['**/*.test.ts'],
  rules: {
    'import-x/no-restricted-paths': [
      'error',
      {
        zones: rule.only
          ? [
              {
                target: `./${folder}`,
                from: '.',
                except: [`./${folder}`, './node_modules', ...rule.only.map((f) => `./${f}`)],
                message: `${folder}/ may import only ${list(rule.only)} (README, "Where things live").`,
              },
            ]
          : rule.not.map((f) => ({
              target: `./${folder}`,
              from: `./${f}`,
              message: `${folder}/ may import anything but ${f}/ (README, "Where things live").`,
            })),
      },
    ],
  },
}));

export default tseslint.config(
  {
    ignores: [
      'node_modules/**',
      '.data/**',
      'load/k6/**',
      'db/migrations/**',
      'eslint.config.js',
      'test/fixtures/**',
      'web/dist/**',
    ],
  },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { 'import-x': importX },
    settings: {
      'import-x/extensions': ['.ts', '.tsx', '.js'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts', '.tsx'] },
      // Sources import `./x.js` and mean `./x.ts` (NodeNext), or `./x.tsx` in web/.
      'import-x/resolver-next': [createNodeResolver({ extensionAlias: { '.js': ['.ts', '.tsx', '.js'] } })],
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      'no-restricted-properties': [
        'error',
        { object: 'Math', property: 'random', message: 'Use a seeded or injected source.' },
      ],
      'import-x/no-cycle': 'error',
    },
  },
  ...boundaries,
  {
    files: ['workflows/**/*.ts'],
    ignores: ['workflows/**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: nodeBuiltins, message: 'Workflows are deterministic: no Node built-ins.' },
            {
              group: ['postgres', 'ioredis', 'drizzle-orm', 'drizzle-orm/*'],
              message: 'Workflows do no I/O: call an activity.',
            },
          ],
        },
      ],
      'no-restricted-syntax': [
        'error',
        { selector: 'Literal[bigint]', message: 'No bigint in workflow payloads: use decimal strings.' },
      ],
    },
  },
  {
    files: ['matching/**/*.ts'],
    ignores: ['matching/**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [...nodeBuiltins, 'postgres', 'ioredis', 'drizzle-orm'],
              message: 'matching/ is a pure library: no I/O.',
            },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'Date', message: 'No clock in matching/: timestamps are arguments.' },
      ],
    },
  },
);
