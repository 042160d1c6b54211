/**
 * The docs stay true to the code where a machine can tell: docs/configuration.md names every variable of
 * lib/config.ts with its default, every relative link of the Markdown files reaches a file of this
 * repository, and every repository path the README and docs/ quote as code exists (ADRs and benchmark
 * results are records of their time and are left as written).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configSchema } from '../lib/config.js';

const ROOT = resolve(import.meta.dirname, '..');
const SKIP = new Set(['node_modules', '.git', '.data', '.artifacts', 'dist']);

function markdownFiles(dir = ROOT): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (SKIP.has(e.name)) return [];
    const path = join(dir, e.name);
    if (e.isDirectory()) return markdownFiles(path);
    return e.isFile() && e.name.endsWith('.md') ? [path] : [];
  });
}

/** The default as the page writes it: `''` for the empty string, `~` for the home directory. */
function written(value: unknown): string {
  if (value === '') return "''";
  return String(value).replace(homedir(), '~');
}

describe('docs/configuration.md', () => {
  const page = readFileSync(join(ROOT, 'docs/configuration.md'), 'utf8');
  const rows = page.split('\n').filter((l) => l.startsWith('| `'));
  const defaults = configSchema.parse({});

  it.each(Object.keys(configSchema.shape))('names %s with its default', (key) => {
    const row = rows.find((r) => r.split('|')[1]!.includes(`\`${key}\``));
    expect(row, `${key} has no row`).toBeDefined();
    expect(row).toContain(`\`${written(defaults[key as keyof typeof defaults])}\``);
  });

  it('names no variable the schema does not have', () => {
    const named = rows.flatMap((r) =>
      [...r.split('|')[1]!.matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((m) => m[1]!),
    );
    expect(named.filter((k) => !(k in configSchema.shape))).toEqual([]);
  });
});

describe('Markdown links', () => {
  const files = markdownFiles();

  it('finds the docs', () => {
    expect(files.map((f) => relative(ROOT, f))).toEqual(
      expect.arrayContaining(['README.md', 'docs/architecture.md', 'docs/configuration.md', 'web/README.md']),
    );
  });

  it('every relative link reaches a file inside the repository', () => {
    const broken = files.flatMap((file) =>
      [...readFileSync(file, 'utf8').matchAll(/\]\(([^)\s]+)\)/g)]
        .map((m) => m[1]!)
        .filter((url) => !/^([a-z]+:|#)/.test(url))
        .filter((url) => {
          const target = resolve(dirname(file), url.split('#')[0]!);
          return relative(ROOT, target).startsWith('..') || !existsSync(target);
        })
        .map((url) => `${relative(ROOT, file)}: ${url}`),
    );
    expect(broken).toEqual([]);
  });
});

describe('paths quoted in the docs', () => {
  const FOLDERS =
    'activities|api|db|devstack|docs|lib|load|matching|ops|scripts|shard|temporal|test|web|workers|workflows';
  const quoted = new RegExp(`\`((?:${FOLDERS})/[\\w./-]*)\``, 'g');
  const current = markdownFiles().filter((f) => !/^docs\/(adr|benchmarks)\//.test(relative(ROOT, f)));

  it('exist (web/dist/ is built by npm start)', () => {
    const paths = current.flatMap((file) =>
      [...readFileSync(file, 'utf8').matchAll(quoted)].map((m) => ({
        file: relative(ROOT, file),
        path: m[1]!.replace(/[.,:]$/, ''),
      })),
    );
    expect(paths.length).toBeGreaterThan(100);
    const missing = paths
      .filter(({ path }) => !path.startsWith('web/dist'))
      .filter(
        ({ path }) => !existsSync(join(ROOT, path)) && !existsSync(join(ROOT, path.replace(/\.js$/, '.ts'))),
      )
      .map(({ file, path }) => `${file}: ${path}`);
    expect(missing).toEqual([]);
  });
});
