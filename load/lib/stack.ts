/**
 * Bring-up for the benchmarks: a scratch database (brokerx_bench_<id>, migrated, dropped afterwards)
 * and, for `npm run bench`, a clean stack of its own as processes on free ports: Mailpit, the Temporal
 * dev server with the committed tuning, the trading, matching and outbox workers and the api (the
 * development shape; ./cluster-stack.ts brings up the production shape behind the same interface).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { migrateDatabase } from '../../db/migrate.js';
import { ensureTools } from '../../devstack/tools.js';
import { freePort, startProcess, waitForPort, type Managed } from '../../devstack/processes.js';
import { startDevServer } from '../../devstack/dev-server.js';
import { removeRedisKeys } from '../../lib/redis.js';
import type { Endpoints } from '../client.js';
import type { MetricsEndpoint } from './io-counts.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

export interface ScratchDatabase {
  /** The database's URL (same server and credentials as the base URL). */
  url: string;
  /** Create the database and apply the migrations. */
  migrate(): Promise<void>;
  /** Drop the database (connections are forced out) and close the admin connection. */
  drop(): Promise<void>;
}

/** A database `brokerx_bench_<id>` on the server of `baseUrl`, created by `migrate()`. */
export function scratchDatabase(baseUrl: string, id = randomBytes(3).toString('hex')): ScratchDatabase {
  const url = new URL(baseUrl);
  url.pathname = `/brokerx_bench_${id}`;
  const name = url.pathname.slice(1);
  return {
    url: url.toString(),
    async migrate() {
      await migrateDatabase(url.toString());
    },
    async drop() {
      const admin = postgres(baseUrl.replace(/\/[^/]*$/, '/postgres'), { max: 1, onnotice: () => {} });
      try {
        await admin.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await admin.end({ timeout: 5 });
      }
    },
  };
}

export interface StackOptions {
  /** The benchmark run's id: in database names, the Redis prefix and the task queues. */
  id: string;
  /** The base environment (DATABASE_URL names the Postgres server, BROKERX_TOOLS_DIR the tools). */
  env: NodeJS.ProcessEnv;
  databaseUrl: string;
  toolsDir: string;
  /** Extra node flags for the stack's processes (BENCH_NODE_ARGS). */
  nodeArgs: readonly string[];
  log: (line: string) => void;
}

export interface Stack {
  /** A short random id: in the database name, the Redis prefix and the task queues of the run. */
  id: string;
  /** The environment the stack's processes run with. */
  env: NodeJS.ProcessEnv;
  /** The application database of the run (dropped by stop()). */
  databaseUrl: string;
  /** What ran: `development` (this file) or `cluster` (./cluster-stack.ts). */
  shape: 'development' | 'cluster';
  endpoints: Endpoints;
  /** The Postgres databases of Temporal's server (none for the dev server, which keeps SQLite). */
  temporalDatabases: string[];
  /** How many api instances answer at `endpoints.api`. */
  apiInstances: number;
  /** The processes now running, for CPU accounting. */
  processes(): { name: string; pid: number | undefined }[];
  /** The /metrics of the application's processes, by component, for the I/O counts (IO_COUNTS=on). */
  metricsEndpoints: MetricsEndpoint[];
  /** Temporal's server's Prometheus page (load/lib/temporal-server.ts). */
  temporalMetrics?: string;
  /** Start one more Node process of the repository (`file` relative to its root) with the stack's env. */
  node(name: string, file: string, extra?: Record<string, string>): Managed;
  /** Stop one process of the stack. */
  stopProcess(p: Managed): Promise<void>;
  /**
   * The stack's processes that died (each with its exit code and last lines); the cluster's own are
   * restarted by its supervisor, which logs it, so there only the processes the benchmark added.
   */
  dead(): string[];
  /** Stop every process, drop the database and remove the temporary directory. */
  stop(): Promise<void>;
}

/** Start a clean stack and wait until the api answers /ready. On failure, what started is stopped. */
export async function startStack(o: StackOptions): Promise<Stack> {
  const tools = await ensureTools(o.toolsDir, o.log);
  const dir = mkdtempSync(join(tmpdir(), 'brokerx-bench-'));
  const id = o.id;
  const database = scratchDatabase(o.databaseUrl, id);
  const port = await freePorts([
    'temporal',
    'temporalHttp',
    'temporalMetrics',
    'smtp',
    'mailpit',
    'api',
    'apiMetrics',
    'tradingMetrics',
    'matchingMetrics',
    'outboxMetrics',
  ] as const);
  const env: NodeJS.ProcessEnv = {
    ...o.env,
    NODE_ENV: 'production',
    SIGNING_KEY_SECRET: randomBytes(32).toString('hex'),
    LOG_LEVEL: 'warn',
    DATABASE_URL: database.url,
    REDIS_PREFIX: `brokerx:bench:${id}:`,
    TEMPORAL_ADDRESS: `127.0.0.1:${port.temporal}`,
    SMTP_URL: `smtp://127.0.0.1:${port.smtp}`,
    MAILPIT_URL: `http://127.0.0.1:${port.mailpit}`,
    PORT: String(port.api),
    PUBLIC_URL: `http://127.0.0.1:${port.api}`,
    // Benchmarks trade at any hour.
    TRADING_CALENDAR: o.env.TRADING_CALENDAR ?? '24h',
  };
  const procs: Managed[] = [];
  const node = (name: string, file: string, extra: Record<string, string> = {}) => {
    const p = startNode(name, file, { ...env, ...extra }, o.nodeArgs);
    procs.push(p);
    return p;
  };
  const stack: Stack = {
    id,
    env,
    databaseUrl: database.url,
    shape: 'development',
    endpoints: { api: `http://127.0.0.1:${port.api}`, mailpit: `http://127.0.0.1:${port.mailpit}` },
    temporalDatabases: [],
    apiInstances: 1,
    processes: () => procs.map((p) => ({ name: p.name, pid: p.child.pid })),
    dead: () => deadProcesses(procs),
    metricsEndpoints: (
      [
        ['api', port.apiMetrics],
        ['trading', port.tradingMetrics],
        ['matching', port.matchingMetrics],
        ['outbox', port.outboxMetrics],
      ] as const
    ).map(([name, p]) => ({ name, url: `http://127.0.0.1:${p}/metrics` })),
    temporalMetrics: `http://127.0.0.1:${port.temporalMetrics}/metrics`,
    node,
    async stopProcess(p) {
      await p.stop('SIGTERM', 10_000);
      procs.splice(procs.indexOf(p), 1);
    },
    async stop() {
      await Promise.allSettled(procs.reverse().map((p) => p.stop('SIGTERM', 10_000)));
      await database.drop().catch(() => undefined);
      await removeRedisKeys(o.env.REDIS_URL ?? 'redis://127.0.0.1:6379/0', env.REDIS_PREFIX!).catch(() => 0);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    o.log('starting a clean stack');
    procs.push(startMailpit(tools.mailpit, port.smtp, port.mailpit, join(dir, 'mail.db')));
    const [temporal] = await Promise.all([
      startDevServer({
        bin: tools.temporal,
        dbFile: join(dir, 'temporal.db'),
        port: port.temporal,
        httpPort: port.temporalHttp,
        metricsPort: port.temporalMetrics,
        output: 'ignore',
      }),
      database.migrate(),
      waitForPort(port.mailpit, 'Mailpit'),
    ]);
    procs.push(temporal);
    node('trading', 'workers/trading/main.ts', {
      METRICS_PORT: String(port.tradingMetrics),
      INSTANCE_ID: 'trading-1',
    });
    node('matching', 'workers/matching/main.ts', {
      METRICS_PORT: String(port.matchingMetrics),
      INSTANCE_ID: 'matching-1',
    });
    node('outbox', 'workers/outbox/main.ts', {
      METRICS_PORT: String(port.outboxMetrics),
      INSTANCE_ID: 'outbox-1',
    });
    const api = node('api', 'api/main.ts', {
      INSTANCE_ID: 'api-1',
      API_METRICS_PORT: String(port.apiMetrics),
    });
    await waitForPort(port.api, 'api', 120_000, api);
    await waitForReady(stack.endpoints.api);
    return stack;
  } catch (err) {
    await stack.stop();
    throw err;
  }
}

/** One Node process of the repository (`file` relative to its root), only its last lines kept. */
export function startNode(
  name: string,
  file: string,
  env: NodeJS.ProcessEnv,
  nodeArgs: readonly string[] = [],
): Managed {
  return startProcess(name, process.execPath, [...nodeArgs, '--import', 'tsx', join(root, file)], {
    env,
    cwd: root,
    output: 'ignore',
  });
}

/** Each of `procs` that exited, with its exit code or signal and its last lines. */
export function deadProcesses(procs: readonly Managed[]): string[] {
  return procs
    .filter((p) => p.child.exitCode !== null || p.child.signalCode !== null)
    .map((p) =>
      [
        `${p.name} exited (${p.child.signalCode ?? `code ${p.child.exitCode}`})`,
        ...p.lastLines().map((l) => `  ${l}`),
      ].join('\n'),
    );
}

/** A free port for each name, asked one after the other. */
async function freePorts<K extends string>(names: readonly K[]): Promise<Record<K, number>> {
  const ports = {} as Record<K, number>;
  for (const name of names) ports[name] = await freePort();
  return ports;
}

function startMailpit(bin: string, smtpPort: number, httpPort: number, dbFile: string): Managed {
  return startProcess(
    'mailpit',
    bin,
    [
      '--smtp',
      `127.0.0.1:${smtpPort}`,
      '--listen',
      `127.0.0.1:${httpPort}`,
      '--database',
      dbFile,
      '--smtp-auth-accept-any',
      '--smtp-auth-allow-insecure',
    ],
    { output: 'ignore' },
  );
}

/** Poll /ready for up to a minute (the api listens before its dependencies are all up). */
export async function waitForReady(api: string): Promise<void> {
  for (let i = 0; i < 120; i++) {
    if ((await fetch(`${api}/ready`).catch(() => null))?.ok) return;
    await sleep(500);
  }
}
