/**
 * The folder boundaries of the README ("Where things live") as ESLint enforces them (eslint.config.js):
 * for every row, a file in that folder importing a forbidden folder fails the lint and an allowed import
 * passes; an import cycle fails. Fixture sources are linted in memory at a path inside each folder, with
 * the repository's real config, so the imports resolve against the real tree. The README's table names every
 * top-level folder and states each folder's LAYOUT rule, so what a newcomer reads is what the lint enforces.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
// Only the import rules: the type-aware rules need a TypeScript program that fixture sources are not in.
const options: ESLint.Options = {
  cwd: root,
  overrideConfig: { languageOptions: { parserOptions: { projectService: false } } },
  ruleFilter: ({ ruleId }) => ruleId.startsWith('import-x/') || ruleId === 'no-restricted-imports',
};
const eslint = new ESLint(options);

/** The messages of the import rules for `source` linted as the file `path`. */
async function importErrors(path: string, source: string): Promise<string[]> {
  const [result] = await eslint.lintText(source, { filePath: `${root}/${path}` });
  return (result?.messages ?? []).map((m) => `${m.ruleId}: ${m.message}`);
}

/** Per row: a file path in the folder, an import it may not make, and one it may. */
const ROWS: { folder: string; file: string; forbidden: string; allowed: string }[] = [
  { folder: 'temporal', file: 'temporal/x.ts', forbidden: '../lib/money.js', allowed: './contracts.js' },
  { folder: 'lib', file: 'lib/x.ts', forbidden: '../db/client.js', allowed: '../temporal/contracts.js' },
  { folder: 'matching', file: 'matching/x.ts', forbidden: '../lib/money.js', allowed: './order-book.js' },
  { folder: 'db', file: 'db/x.ts', forbidden: '../activities/orders.js', allowed: '../lib/money.js' },
  {
    folder: 'shard',
    file: 'shard/x.ts',
    forbidden: '../workers/worker-metrics.js',
    allowed: '../matching/index.js',
  },
  {
    folder: 'activities',
    file: 'activities/x.ts',
    forbidden: '../workers/worker-metrics.js',
    allowed: '../db/client.js',
  },
  {
    folder: 'workflows',
    file: 'workflows/x.ts',
    forbidden: '../activities/orders.js',
    allowed: '../temporal/contracts.js',
  },
  { folder: 'workers', file: 'workers/x.ts', forbidden: '../api/app.js', allowed: '../activities/orders.js' },
  {
    folder: 'api',
    file: 'api/x.ts',
    forbidden: '../workflows/trading-saga.js',
    allowed: '../matching/index.js',
  },
  {
    folder: 'devstack',
    file: 'devstack/x.ts',
    forbidden: '../db/client.js',
    allowed: '../temporal/search-attributes.js',
  },
  {
    folder: 'load',
    file: 'load/x.ts',
    forbidden: '../test/helpers.js',
    allowed: '../workers/worker-metrics.js',
  },
  { folder: 'web', file: 'web/src/x.tsx', forbidden: '../../lib/money.js', allowed: './money.js' },
  { folder: 'scripts', file: 'scripts/x.ts', forbidden: '', allowed: '../test/helpers.js' },
  { folder: 'test', file: 'test/x.ts', forbidden: '', allowed: '../api/app.js' },
];

// Loading the config and the plugins takes seconds on a busy machine.
describe('folder boundaries (eslint.config.js LAYOUT)', { timeout: 60_000 }, () => {
  for (const row of ROWS) {
    if (row.forbidden)
      it(`${row.folder}/ may not import ${row.forbidden}`, async () => {
        const errors = await importErrors(row.file, `export * from '${row.forbidden}';\n`);
        expect(errors).toEqual([
          expect.stringMatching(
            new RegExp(`^import-x/no-restricted-paths: .* restricted zone\\. ${row.folder}/ may`),
          ),
        ]);
      });
    it(`${row.folder}/ may import ${row.allowed}`, async () => {
      expect(await importErrors(row.file, `export * from '${row.allowed}';\n`)).toEqual([]);
    });
  }

  it('exempts test files beside the code: they may import the harness', async () => {
    expect(await importErrors('api/x.int.test.ts', `export * from '../test/helpers.js';\n`)).toEqual([]);
  });

  it('keeps the determinism rules of workflows/ and matching/', async () => {
    expect(await importErrors('workflows/x.ts', `export * from 'node:fs';\n`)).toEqual([
      expect.stringMatching(/^no-restricted-imports: .*Workflows are deterministic/),
    ]);
    expect(await importErrors('matching/x.ts', `export * from 'postgres';\n`)).toEqual([
      expect.stringMatching(/^no-restricted-imports: .*matching\/ is a pure library/),
    ]);
  });
});

describe('import cycles', { timeout: 60_000 }, () => {
  it('refuses a cycle (test/fixtures/lint/cycle-a.ts <-> cycle-b.ts)', async () => {
    // `npm run lint` ignores the fixtures; lint them here on purpose.
    const withFixtures = new ESLint({ ...options, ignore: false });
    const [result] = await withFixtures.lintFiles(['test/fixtures/lint/cycle-a.ts']);
    expect(result?.messages.map((m) => m.ruleId)).toEqual(['import-x/no-cycle']);
  });
});

// eslint.config.js is plain JavaScript without types: loaded by path, typed here.
const { LAYOUT } = (await import(`${root}eslint.config.js`)) as {
  LAYOUT: Record<string, { only: string[] } | { not: string[] }>;
};

describe('the README\'s "Where things live" table', () => {
  const readme = readFileSync(`${root}/README.md`, 'utf8');
  const table = readme.slice(readme.indexOf('## Where things live'), readme.indexOf('ESLint enforces'));
  /** folder -> its "may import" cell */
  const rows = new Map(
    [...table.matchAll(/^\| `([a-z]+)\/`\s*\|.*\|(.*)\|$/gm)].map((m) => [m[1]!, m[2]!.trim()]),
  );

  it('has a row for every top-level folder of the repository', () => {
    const folders = readdirSync(root, { withFileTypes: true })
      .filter((e) => e.isDirectory() && !e.name.startsWith('.') && !['node_modules', 'dist'].includes(e.name))
      .map((e) => e.name);
    expect(folders.filter((f) => !rows.has(f))).toEqual([]);
  });

  it.each(Object.entries(LAYOUT))('states the LAYOUT rule of %s/', (folder, rule) => {
    const cell = rows.get(folder) ?? '';
    const named = [...cell.replace(/\([^)]*\)/g, '').matchAll(/`?([a-z]+)\/`?/g)]
      .map((m) => m[1]!)
      .filter((f) => f !== folder); // "nothing outside `matching/`"
    if ('only' in rule) {
      expect(named.sort()).toEqual([...rule.only].sort());
      if (rule.only.length === 0) expect(cell).toMatch(/^nothing /);
    } else {
      expect(cell).toMatch(/^(anything|everything) but /);
      expect(named.sort()).toEqual([...rule.not].sort());
    }
  });
});
