/** Postgres connections: one postgres.js pool per process, wrapped by drizzle. */
import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { countIo, ioCountsEnabled } from '../lib/io-counts.js';
import * as schema from './schema.js';

export type Db = PostgresJsDatabase<typeof schema>;
/** A transaction handle; query functions accept `Db | Tx` so they compose inside transactions. */
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];
export type DbOrTx = Db | Tx;
export type Sql = postgres.Sql;

export interface Database {
  db: Db;
  sql: Sql;
  close(): Promise<void>;
}

export function connectDatabase(url: string, opts: { max?: number; appName?: string } = {}): Database {
  const sql = postgres(url, {
    max: opts.max ?? 10,
    onnotice: () => {},
    connection: { application_name: opts.appName ?? 'brokerx' },
    types: { bigint: postgres.BigInt },
  });
  fetchArrayTypesOnce(sql);
  // IO_COUNTS=on only (lib/io-counts.ts): otherwise the client is not wrapped at all.
  const client = ioCountsEnabled() ? countingStatements(sql) : sql;
  const db = drizzle(preparedByDefault(client), { schema });
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
