/**
 * The SQL the runbooks give on-call runs: every read-only query of docs/runbooks/*.md (a `psql ... -c`
 * command, a fenced `sql` block, an inline `SELECT ...`) runs without error on the run's freshly migrated
 * database, in a read-only transaction. Statements that write, end a session or are psql meta-commands
 * (`DROP DATABASE`, `UPDATE outbox ...`, `pg_terminate_backend`, `\dt`) are skipped, as are those with a
 * placeholder to fill in (`<pid>`).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { connectDatabase } from '../db/client.js';
import { testConfig } from './helpers.js';

const ROOT = resolve(import.meta.dirname, '..');
const RUNBOOKS = 'docs/runbooks';

interface Snippet {
  /** `file:line` of the snippet's start. */
  where: string;
  sql: string;
}

/** The SQL of a Markdown page: psql `-c` arguments, fenced `sql` blocks, inline code that starts with SELECT. */
function sqlSnippets(file: string, text: string): Snippet[] {
  const found: { index: number; sql: string }[] = [];
  for (const m of text.matchAll(/\bpsql\b[^\n`]*?\s-c (?:"((?:\\[\s\S]|[^"\\])*)"|'([^']*)')/g)) {
    // Inside double quotes the shell removes the backslash before " $ ` and \.
    const sql = m[1] !== undefined ? m[1].replace(/\\(["$`\\])/g, '$1') : m[2]!;
    found.push({ index: m.index + m[0].search(/-c ["']/) + 3, sql });
  }
  for (const m of text.matchAll(/^[ \t]*```sql\n([\s\S]*?)^[ \t]*```/gm))
    found.push({ index: m.index + m[0].indexOf('\n') + 1, sql: m[1]! });
  // Inline code outside fenced blocks (blanked, line breaks kept, so the indexes stay those of the text).
  const prose = text.replace(/^[ \t]*```[\s\S]*?^[ \t]*```/gm, (block) => block.replace(/[^\n]/g, ' '));
  for (const m of prose.matchAll(/`((?:SELECT|WITH)\b[^`]*)`/g))
    found.push({ index: m.index + 1, sql: m[1]! });
  return found
    .sort((a, b) => a.index - b.index)
    .map(({ index, sql }) => ({
      where: `${file}:${text.slice(0, index).split('\n').length}`,
      sql: sql.trim().replace(/;$/, ''),
    }));
}

/** Whether a snippet only reads: a query (SELECT, WITH), nothing that writes or ends a session. */
function readOnly(sql: string): boolean {
  if (!/^(SELECT|WITH)\b/i.test(sql)) return false;
  if (/<[a-z_]+>/i.test(sql)) return false;
  return !/\b(INSERT|UPDATE|DELETE|MERGE|DROP|TRUNCATE|ALTER|CREATE|GRANT|REVOKE|VACUUM|COPY|pg_terminate_backend|pg_cancel_backend)\b/i.test(
    sql,
  );
}

const snippets = readdirSync(join(ROOT, RUNBOOKS))
  .filter((f) => f.endsWith('.md'))
  .sort()
  .flatMap((f) => sqlSnippets(`${RUNBOOKS}/${f}`, readFileSync(join(ROOT, RUNBOOKS, f), 'utf8')));
const queries = snippets.filter((s) => readOnly(s.sql));

describe('the extractor', () => {
  it('finds psql commands, fenced sql and inline queries, and tells the read-only ones', () => {
    const page = [
      '```sh',
      'psql -h 127.0.0.1 -U postgres brokerx -c "SELECT a.pid, \\"x\\"',
      "  FROM pg_stat_activity a WHERE a.state = 'active'\"",
      "psql -U postgres -c 'DROP DATABASE brokerx'",
      '```',
      '',
      'Then `SELECT status, count(*) FROM outbox GROUP BY 1;` or `SELECT pg_terminate_backend(<pid>)`.',
      '',
      '```sql',
      'UPDATE outbox SET attempts = 0',
      '```',
    ].join('\n');
    const found = sqlSnippets('page.md', page);
    expect(found).toEqual([
      {
        where: 'page.md:2',
        sql: `SELECT a.pid, "x"\n  FROM pg_stat_activity a WHERE a.state = 'active'`,
      },
      { where: 'page.md:4', sql: 'DROP DATABASE brokerx' },
      { where: 'page.md:7', sql: 'SELECT status, count(*) FROM outbox GROUP BY 1' },
      { where: 'page.md:7', sql: 'SELECT pg_terminate_backend(<pid>)' },
      { where: 'page.md:10', sql: 'UPDATE outbox SET attempts = 0' },
    ]);
    expect(found.map((s) => readOnly(s.sql))).toEqual([true, false, true, false, false]);
    expect(readOnly('\\dt')).toBe(false);
  });

  it('finds the queries of the matching failover runbook', () => {
    const failover = queries.filter((s) => s.where.startsWith(`${RUNBOOKS}/matching-failover.md:`));
    expect(failover.map((s) => s.sql)).toEqual([
      expect.stringContaining('l.objsubid = 1'),
      expect.stringContaining('l.classid = 25202'),
    ]);
  });
});

describe('the runbooks’ read-only SQL', () => {
  const database = connectDatabase(testConfig().DATABASE_URL, { max: 1, appName: 'test-runbooks' });
  afterAll(() => database.close());

  it.each(queries.map((s) => [s.where, s.sql] as const))('%s runs', async (_where, sql) => {
    await database.sql.begin('read only', (tx) => tx.unsafe(sql));
  });
});
