/** Postgres connections: one postgres.js pool per process, wrapped by drizzle. */
import { getTableColumns, is, Param, Placeholder, sql, type SQL, type SQLWrapper } from 'drizzle-orm';
import { PgDialect, type PgTable } from 'drizzle-orm/pg-core';
import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { countIo, ioCountsEnabled } from '../lib/io-counts.js';

export type Db = PostgresJsDatabase;
/** A transaction handle; query functions accept `Db | Tx` so they compose inside transactions. */
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];
export type DbOrTx = Db | Tx;
export type Sql = postgres.Sql;

export interface Database {
  db: Db;
  sql: Sql;
  close(): Promise<void>;
}

export interface ConnectOptions {
  /** The pool's connections, passed by each caller (the api and the workers: DATABASE_POOL_MAX, ADR 0038). */
  max: number;
  appName?: string;
  /**
   * Commit without waiting for the WAL flush (`synchronous_commit = off`): only for a process whose
   * writes may be lost in a Postgres crash because they are redone anyway (the outbox relay's done,
   * retry and dead marks: a row whose mark is lost is relayed again, and delivery is at-least-once
   * already).
   * Any later synchronous commit flushes them too; at most about three `wal_writer_delay`s are at risk.
   */
  asyncCommit?: boolean;
}

/**
 * Seconds a postgres.js client waits before its next connect after `failures` failed in a row: 0.02,
 * 0.04, ... 0.64, then 1 at most, so every client of the processes (these pools, their `LISTEN`, the lease
 * connections of workers/lease.ts) is connected again within a second of Postgres coming back. postgres.js's
 * default (3^n / 100, x0.5-1) reaches 10 to 20 s after seven failed connects: after an outage, pools kept
 * failing (each request waiting the delay out for its 503) and shards stayed without owner that long.
 */
export const reconnectBackoff = (failures: number): number => Math.min(2 ** failures / 100, 1);

export function connectDatabase(url: string, opts: ConnectOptions): Database {
  const sql = postgres(url, {
    max: opts.max,
    backoff: reconnectBackoff,
    onnotice: () => {},
    connection: {
      application_name: opts.appName ?? 'brokerx',
      ...(opts.asyncCommit ? { synchronous_commit: 'off' } : {}),
    },
    types: { bigint: postgres.BigInt },
  });
  fetchArrayTypesOnce(sql);
  // IO_COUNTS=on only (lib/io-counts.ts): otherwise the client is not wrapped at all.
  const client = ioCountsEnabled() ? countingStatements(sql) : sql;
  // No schema: nothing uses drizzle's relational queries, and with one every transaction builds a query
  // builder per table.
  const db = drizzle(preparedByDefault(client));
  return { db, sql: client, close: () => sql.end({ timeout: 5 }) };
}

/**
 * Count every statement sent through this client (IO_COUNTS=on): tagged templates, `unsafe()` (which
 * drizzle uses), and a transaction's or savepoint's two statements (BEGIN/COMMIT, SAVEPOINT/RELEASE, or
 * their rollback), with the statements inside counted through the same wrapper.
 */
function countingStatements(sql: Sql): Sql {
  return new Proxy(sql, {
    apply(target, thisArg, args: unknown[]) {
      const first = args[0];
      if (Array.isArray(first) && 'raw' in first) countIo('postgres_statements');
      return Reflect.apply(target, thisArg, args) as unknown;
    },
    get(target, prop, receiver) {
      if (prop === 'unsafe')
        return (...args: Parameters<Sql['unsafe']>) => {
          countIo('postgres_statements');
          return target.unsafe(...args);
        };
      if (prop === 'begin' || prop === 'savepoint')
        return (...args: unknown[]) => {
          const fn = args.pop() as (tx: Sql) => unknown;
          const run = Reflect.get(target, prop, receiver) as (...a: unknown[]) => unknown;
          countIo('postgres_statements', 2);
          return run.call(target, ...args, (tx: Sql) => fn(countingStatements(tx)));
        };
      return Reflect.get(target, prop, receiver) as unknown;
    },
  });
}

/**
 * postgres.js learns the array types (which JS arrays as parameters need) by a query on every new
 * connection, run from a socket handler: if that connection is terminated meanwhile (a failover,
 * `pg_terminate_backend`) the failure is an unhandled rejection, which ends the process. The types are
 * the same for every connection of the pool: learn them on the first one, then stop asking.
 */
function fetchArrayTypesOnce(sql: Sql): void {
  sql`SELECT 1`.then(
    () => {
      sql.options.fetch_types = false;
    },
    () => undefined, // not reachable yet: the next connection learns them
  );
}

/**
 * drizzle's postgres.js driver sends every query through `unsafe()` with `prepare: false` (drizzle-orm
 * issue #6096: it ignores the client's `prepare: true`), so Postgres parses and plans each statement
 * again and postgres.js describes its result again. This hands drizzle a client whose `unsafe()` always
 * prepares: the statement is named and cached per connection, as postgres.js's own tagged templates
 * are. Transactions and savepoints get the same client. Measured in docs/adr/0015-prepared-statements.md.
 */
function preparedByDefault(sql: Sql): Sql {
  return new Proxy(sql, {
    get(target, prop, receiver) {
      if (prop === 'unsafe')
        return (
          query: string,
          params?: postgres.ParameterOrJSON<never>[],
          options?: postgres.UnsafeQueryOptions,
        ) => target.unsafe(query, params, { ...options, prepare: true });
      if (prop === 'begin' || prop === 'savepoint')
        return (...args: unknown[]) => {
          const fn = args.pop() as (tx: Sql) => unknown;
          const run = Reflect.get(target, prop, receiver) as (...a: unknown[]) => unknown;
          return run.call(target, ...args, (tx: Sql) => fn(preparedByDefault(tx)));
        };
      return Reflect.get(target, prop, receiver) as unknown;
    },
  });
}

/**
 * The SQLSTATE of a failed statement: postgres.js's error carries it, and drizzle wraps that error as the
 * `cause` of its own. Undefined for an error that is not a statement's.
 */
export function postgresErrorCode(err: unknown): string | undefined {
  for (let e = err; e instanceof Error; e = e.cause) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

/** The postgres.js handle under a drizzle database or transaction (drizzle's session keeps it). */
function clientOf(db: DbOrTx): Sql {
  const client = (db as unknown as { session?: { client?: Sql } }).session?.client;
  if (typeof client?.unsafe !== 'function') throw new Error('not a drizzle postgres.js database');
  return client;
}

/**
 * A statement whose text drizzle builds once, its varying values written as `sql.placeholder(name)`;
 * each call sends that text with the values through the database's or transaction's postgres.js client
 * (prepared, like every statement: ADR 0015). drizzle builds a query again on every call, which costs more
 * node CPU than postgres.js itself on the order path's largest statements
 * (docs/adr/0029-prebuilt-statements.md). Rows come back as postgres.js returns them: column names as
 * selected, values as the client parses them (`rowMapper` maps a table's rows as drizzle would).
 */
export function prebuilt<V extends Record<string, unknown>, R extends object = Record<string, unknown>>(
  statement: SQL,
): (db: DbOrTx, values: V) => Promise<R[]> {
  const query = new PgDialect().sqlToQuery(statement);
  // Per parameter: the placeholder's name (and the column's encoder when drizzle bound it to one), or the
  // constant drizzle inlined as a parameter.
  type Slot = { name: string; encode?: (v: unknown) => unknown } | { name?: undefined; value: unknown };
  const slots = query.params.map((p): Slot => {
    if (is(p, Placeholder)) return { name: p.name };
    if (is(p, Param) && is(p.value, Placeholder))
      return { name: p.value.name, encode: (v: unknown) => p.encoder.mapToDriverValue(v) };
    return { value: p };
  });
  return async (db, values) => {
    const params = slots.map((s) => {
      if (s.name === undefined) return s.value;
      const v = values[s.name];
      if (v === undefined) throw new Error(`no value for ${s.name}`);
      return s.encode && v !== null ? s.encode(v) : v;
    });
    // Sent now (`execute()`), not when awaited: a caller that goes on without awaiting it (a settlement
    // batch sending its COMMIT behind its last writes, ADR 0033) has it on the connection before anything
    // it sends next.
    return (await clientOf(db)
      .unsafe(query.sql, params as postgres.ParameterOrJSON<never>[])
      .execute()) as unknown as R[];
  };
}

/** Rows of `table` selected by column name (`SELECT *`), mapped to its drizzle row type as drizzle maps them. */
export function rowMapper<T extends PgTable>(table: T): (row: Record<string, unknown>) => T['$inferSelect'] {
  const columns = Object.entries(getTableColumns(table)).map(([key, column]) => ({ key, column }));
  return (row) => {
    const out: Record<string, unknown> = {};
    for (const { key, column } of columns) {
      const v = row[column.name];
      out[key] = v === null || v === undefined ? null : column.mapFromDriverValue(v);
    }
    return out;
  };
}

/**
 * A timestamptz as microseconds since the epoch: its whole precision, exact as a bigint (a keyset cursor
 * that kept a Date's milliseconds would skip rows of the same millisecond).
 */
export const epochMicros = (at: SQLWrapper): SQL => sql`(extract(epoch FROM ${at}) * 1000000)::bigint`;

/** The timestamptz of `micros` microseconds since the epoch (epochMicros' inverse). */
export const fromEpochMicros = (micros: bigint): SQL =>
  sql`('epoch'::timestamptz + ${micros.toString()}::bigint * interval '1 microsecond')`;
