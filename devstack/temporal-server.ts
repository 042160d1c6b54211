/**
 * Temporal's own server (v1.29.1, postgres12 plugin) for `npm run start:cluster`: its two databases and
 * schemas (what ops/temporal/setup-schema.sh does for compose), the server process with
 * ops/temporal/server.yaml, and the namespace with the TradingSaga search attributes (what
 * ops/temporal/setup-namespace.sh does for compose). Everything here is idempotent, run on every start.
 */
import { spawn } from 'node:child_process';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time.js';
import proto from '@temporalio/proto';
import { REPO_ROOT } from './compose.js';

/** The environment of docker-compose.yml's `temporal` service, hostnames and ports already local. */
export type TemporalServerEnv = Record<string, string>;

/** Schemas embedded in the sql tool (go.temporal.io/server/schema), per database variable. */
const SCHEMAS = {
  DBNAME: 'postgresql/v12/temporal',
  VISIBILITY_DBNAME: 'postgresql/v12/visibility',
} as const;

function run(bin: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`${bin} ${args.join(' ')} failed (exit ${code}):\n${stderr}`)),
    );
  });
}

/** Create the persistence and visibility databases if missing and apply the schema versions they lack. */
export async function setupTemporalSchema(sqlTool: string, env: TemporalServerEnv): Promise<void> {
  const common = [
    '--plugin',
    env.DB ?? 'postgres12',
    '--ep',
    env.POSTGRES_SEEDS ?? '127.0.0.1',
    '-p',
    env.DB_PORT ?? '5432',
    '-u',
    env.POSTGRES_USER ?? 'postgres',
    '--pw',
    env.POSTGRES_PWD ?? '',
  ];
  for (const [key, schema] of Object.entries(SCHEMAS)) {
    const db = env[key];
    if (!db) throw new Error(`the temporal service sets no ${key}`);
    const tool = (...args: string[]) => run(sqlTool, [...common, '--db', db, ...args]);
    await tool('create-database').catch((err: Error) => {
      if (!/already exists/.test(err.message)) throw err;
    });
    await tool('setup-schema', '-v', '0.0');
    await tool('update-schema', '--schema-name', schema);
  }
}

/** The server's arguments: ops/temporal/server.yaml, rendered by the server from its environment. */
export const temporalServerArgs = (): string[] => [
  '--root',
  REPO_ROOT,
  '--config',
  'ops/temporal',
  '--env',
  'server',
  '--allow-no-auth',
  'start',
];

const { IndexedValueType } = proto.temporal.api.enums.v1;
const ALREADY_EXISTS = 6; // gRPC status code

/**
 * Register `namespace` (72 h retention, as setup-namespace.sh does) and the search attributes
 * ("Name=Type" pairs, docker-compose.yml's SEARCH_ATTRIBUTES), then wait until the frontend serves them.
 */
export async function registerNamespace(
  address: string,
  namespace: string,
  searchAttributes: string,
): Promise<void> {
  const connectDeadline = Date.now() + 300_000; // a loaded 2-core CI machine brings the frontend up slowly
  let connection: Connection;
  for (;;) {
    let c: Connection | undefined;
    try {
      c = await Connection.connect({ address, connectTimeout: 5_000 });
      await c.workflowService.getSystemInfo({});
      connection = c;
      break;
    } catch (err) {
      await c?.close();
      if (Date.now() > connectDeadline) throw err;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  try {
    const ws = connection.workflowService;
    await ws
      .registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs('72h') })
      .catch((err: { code?: number }) => {
        if (err.code !== ALREADY_EXISTS) throw err;
      });
    const wanted = Object.fromEntries(
      searchAttributes
        .split(/\s+/)
        .filter(Boolean)
        .map((pair) => {
          const [name, type] = pair.split('=') as [string, string];
          const value =
            IndexedValueType[`INDEXED_VALUE_TYPE_${type.toUpperCase()}` as keyof typeof IndexedValueType];
          if (typeof value !== 'number') throw new Error(`unknown search attribute type ${type} of ${name}`);
          return [name, value];
        }),
    );
    const deadline = Date.now() + 60_000;
    let added = false;
    for (;;) {
      try {
        const list = await connection.operatorService.listSearchAttributes({ namespace });
        const missing = Object.keys(wanted).filter((n) => !(n in (list.customAttributes ?? {})));
        if (missing.length === 0) break;
        await connection.operatorService.addSearchAttributes({
          namespace,
          searchAttributes: Object.fromEntries(missing.map((n) => [n, wanted[n]!])),
        });
        added = true;
      } catch (err) {
        // A new namespace reaches the frontend's cache within about 10 s.
        if (Date.now() > deadline) throw err;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
    // The frontend caches namespace metadata for up to 10 s: let it see new attributes before the api and
    // the workers start sagas that set them.
    if (added) await new Promise((r) => setTimeout(r, 11_000));
  } finally {
    await connection.close();
  }
}
