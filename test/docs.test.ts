/**
 * The docs stay true to the code where a machine can tell: docs/configuration.md names every variable of
 * lib/config.ts with its default, every relative link of the Markdown files reaches a file of this
 * repository, every repository path the README and docs/ quote as code exists, and every log line they
 * quote is one the code logs (ADRs and benchmark results are records of their time and are left as
 * written).
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

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('log lines quoted in the docs', () => {
  const CODE = 'activities|api|db|devstack|lib|load|matching|scripts|shard|temporal|workers|workflows';
  const sources = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
      const path = join(dir, e.name);
      if (e.isDirectory()) return SKIP.has(e.name) ? [] : sources(path);
      return /(?<!\.test)\.ts$/.test(e.name) ? [path] : [];
    });
  // The message of every logger call (`logger.warn('outbox event failed', {...})`, or a `log(...)` that
  // writes through one: lib/shutdown.ts); a template literal's placeholders match anything.
  const logged = CODE.split('|')
    .flatMap((dir) => sources(join(ROOT, dir)))
    .flatMap((file) => [
      ...readFileSync(file, 'utf8').matchAll(
        /(?:\.(?:debug|info|warn|error)|\blog)\(\s*(?:'([^'\n]*)'|`([^`]*)`)/g,
      ),
    ])
    .map(([, text, template]) =>
      text !== undefined
        ? text
        : new RegExp(
            `^${template!
              .split(/\$\{[^}]*\}/)
              .map(escapeRegExp)
              .join('.*')}$`,
          ),
    );
  const isLogged = (line: string) => logged.some((m) => (typeof m === 'string' ? m === line : m.test(line)));

  /**
   * A log line as the docs quote it: a message of lowercase words (`relay active`, "shard owned, books
   * rebuilt, serving") in backticks or double quotes, in a sentence that speaks of a log outside its
   * quotes ("the api's log", "logs", "its log lines"). Shell commands (`npm start`) are not log lines.
   */
  function quotedLogLines(text: string): string[] {
    const quotes: string[] = [];
    return text
      .replace(/```[\s\S]*?```/g, '')
      .split(/\n\s*\n|\n(?=\s*(?:[-*|]|\d+\.)\s)/) // paragraphs, list items, table rows
      .flatMap((block) =>
        block
          .replace(/`([^`]+)`|"([^"\n]+)"/g, (_, code?: string, said?: string) => {
            quotes.push((code ?? said!).replace(/\s+/g, ' '));
            return `\0${quotes.length - 1}\0`;
          })
          .split(/(?<=\.)\s+/),
      )
      .filter((sentence) => /\blog(s|ged)?\b/i.test(sentence.replace(/\0\d+\0/g, '')))
      .flatMap((sentence) => [...sentence.matchAll(/\0(\d+)\0/g)].map((m) => quotes[Number(m[1])]!))
      .filter((q) => /^[a-z][a-z',]*( [a-z',]+)+$/.test(q) && !/^(npm|npx|docker|git) /.test(q));
  }

  it('are logged by the code', () => {
    const quoted = markdownFiles()
      .filter((f) => !/^docs\/(adr|benchmarks)\//.test(relative(ROOT, f)))
      .flatMap((file) => quotedLogLines(readFileSync(file, 'utf8')).map((line) => ({ file, line })));
    expect(quoted.length).toBeGreaterThan(10);
    expect(logged.length).toBeGreaterThan(50);
    const unknown = quoted
      .filter(({ line }) => !isLogged(line))
      .map(({ file, line }) => `${relative(ROOT, file)}: ${line}`);
    expect(unknown).toEqual([]);
  });
});
