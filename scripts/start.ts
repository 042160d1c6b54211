/**
 * `npm start`: the whole local system, kept up until Ctrl-C.
 *   Temporal dev server (SQLite in .data/, Web UI :8233) and Mailpit (SMTP :1025, UI :8025),
 *   migrations, the trading, matching and outbox workers, and the api on :3000 with the trader's page
 *   (web/, built here into web/dist).
 * Fails fast, naming the command to run, when Postgres or Redis is not reachable. Every process it
 * starts runs in its own process group and is stopped on exit; a process that dies (a worker, the api,
 * the Temporal dev server, Mailpit) is restarted, the dev server on its SQLite file.
 */
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { loadConfigOrExit } from '../lib/config.js';
import { migrateDatabase } from '../db/migrate.js';
import { superviseDevServer } from '../devstack/dev-server.js';
import { ensureTools } from '../devstack/tools.js';
import { buildWeb } from '../web/build.js';
import {
  APP_STOP_GRACE_MS,
  portOpen,
  startProcess,
  supervise,
  waitForPort,
  type Managed,
} from '../devstack/processes.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const log = (msg: string) => console.log(`[start] ${msg}`);

/** Local ports: the same as docker-compose.yml publishes. */
export const LOCAL_PORTS = {
  api: 3000,
  apiMetrics: 9463,
  temporal: 7233,
  temporalHttp: 7243,
  temporalUi: 8233,
  temporalMetrics: 7235,
  smtp: 1025,
  mailpit: 8025,
  tradingMetrics: 9464,
  matchingMetrics: 9465,
  outboxMetrics: 9466,
  tradingSdkMetrics: 9474,
  matchingSdkMetrics: 9475,
} as const;

async function main(): Promise<void> {
  // Development and demos trade at any hour: the 24-hour session unless TRADING_CALENDAR says otherwise
  // (every process started below inherits it).
  process.env.TRADING_CALENDAR ??= '24h';
  const config = loadConfigOrExit(process.env);

  const pg = new URL(config.DATABASE_URL);
  const redis = new URL(config.REDIS_URL);
  const pgPort = Number(pg.port || 5432);
  const redisPort = Number(redis.port || 6379);
  const problems: string[] = [];
  if (!(await portOpen(pgPort, pg.hostname))) {
    problems.push(
      `PostgreSQL is not reachable at ${pg.hostname}:${pgPort}. Start it with:\n    pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`,
    );
  }
  if (!(await portOpen(redisPort, redis.hostname))) {
    problems.push(
      `Redis is not reachable at ${redis.hostname}:${redisPort}. Start it with:\n    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no`,
    );
  }
  if (problems.length) {
    console.error(problems.join('\n'));
    process.exit(1);
  }
  const busy: string[] = [];
  for (const [name, port] of Object.entries({
    api: config.PORT,
    temporal: LOCAL_PORTS.temporal,
    ui: LOCAL_PORTS.temporalUi,
    smtp: LOCAL_PORTS.smtp,
    mailpit: LOCAL_PORTS.mailpit,
  })) {
    if (await portOpen(port)) busy.push(`${name} :${port}`);
  }
  if (busy.length) {
    console.error(
      `Ports already in use (${busy.join(', ')}): is another \`npm start\` running? Stop it first.`,
    );
    process.exit(1);
  }

  const tools = await ensureTools(config.BROKERX_TOOLS_DIR, log);
  const dataDir = join(root, '.data');
  mkdirSync(dataDir, { recursive: true });

  const procs: Pick<Managed, 'stop'>[] = [];
  let stopping = false;
  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    log('stopping ...');
    for (const p of [...procs].reverse()) await p.stop('SIGTERM', APP_STOP_GRACE_MS);
    log('all processes stopped');
    process.exit(code);
  };
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));

  try {
    const mailpit = supervise(
      'mailpit',
      () =>
        startProcess(
          'mailpit',
          tools.mailpit,
          [
            '--smtp',
            `127.0.0.1:${LOCAL_PORTS.smtp}`,
            '--listen',
            `127.0.0.1:${LOCAL_PORTS.mailpit}`,
            '--database',
            join(dataDir, 'mailpit.db'),
            '--smtp-auth-accept-any',
            '--smtp-auth-allow-insecure',
            '--max',
            '20000',
          ],
          { output: 'ignore' },
        ),
      { log },
    );
    procs.push(mailpit);
    const temporalP = superviseDevServer(
      {
        bin: tools.temporal,
        dbFile: join(dataDir, 'temporal.db'),
        port: LOCAL_PORTS.temporal,
        httpPort: LOCAL_PORTS.temporalHttp,
        uiPort: LOCAL_PORTS.temporalUi,
        metricsPort: LOCAL_PORTS.temporalMetrics,
      },
      log,
    );
    const [temporal] = await Promise.all([
      temporalP,
      waitForPort(LOCAL_PORTS.mailpit, 'Mailpit', 30_000, mailpit.current()),
      migrateDatabase(config.DATABASE_URL),
      buildWeb().then(({ sizes }) =>
        log(
          `web page built (${Object.entries(sizes)
            .map(([f, b]) => `${f} ${b} B`)
            .join(', ')})`,
        ),
      ),
    ]);
    procs.push(temporal);
    log('Temporal, Mailpit, migrations and the web page ready');

    const env = {
      ...process.env,
      TEMPORAL_ADDRESS: `127.0.0.1:${LOCAL_PORTS.temporal}`,
      SMTP_URL: `smtp://127.0.0.1:${LOCAL_PORTS.smtp}`,
      MAILPIT_URL: `http://127.0.0.1:${LOCAL_PORTS.mailpit}`,
    };
    const node = (name: string, file: string, extra: Record<string, string>) =>
      procs.push(
        supervise(
          name,
          () =>
            startProcess(name, process.execPath, ['--import', 'tsx', join(root, file)], {
              env: { ...env, ...extra },
              cwd: root,
            }),
          { log },
        ),
      );
    node('trading', 'workers/trading/main.ts', {
      METRICS_PORT: String(LOCAL_PORTS.tradingMetrics),
      SDK_METRICS_PORT: String(LOCAL_PORTS.tradingSdkMetrics),
      INSTANCE_ID: 'trading-1',
    });
    node('matching', 'workers/matching/main.ts', {
      METRICS_PORT: String(LOCAL_PORTS.matchingMetrics),
      SDK_METRICS_PORT: String(LOCAL_PORTS.matchingSdkMetrics),
      INSTANCE_ID: 'matching-1',
    });
    node('outbox', 'workers/outbox/main.ts', {
      METRICS_PORT: String(LOCAL_PORTS.outboxMetrics),
      INSTANCE_ID: 'outbox-1',
    });
    node('api', 'api/main.ts', {
      PORT: String(config.PORT),
      API_METRICS_PORT: String(config.API_METRICS_PORT),
      INSTANCE_ID: config.INSTANCE_ID,
    });
    await waitForPort(config.PORT, 'api', 60_000);

    console.log(`
  BrokerX is up.
    Trader's page  http://localhost:${config.PORT}/
    API            http://localhost:${config.PORT}          (health: /health, ready: /ready)
    API docs       http://localhost:${config.PORT}/docs     (OpenAPI: /openapi.json)
    Temporal UI    http://localhost:${LOCAL_PORTS.temporalUi}
    Mail (Mailpit) http://localhost:${LOCAL_PORTS.mailpit}
    Metrics        http://localhost:${config.API_METRICS_PORT}/metrics (api), workers :${LOCAL_PORTS.tradingMetrics} :${LOCAL_PORTS.matchingMetrics} :${LOCAL_PORTS.outboxMetrics} /metrics
    Session        ${config.TRADING_CALENDAR === '24h' ? `24 hours, always open; DAY orders expire at ${config.SESSION_CLOSE_UTC} UTC (TRADING_CALENDAR=nyse for the NYSE calendar)` : 'NYSE, 09:30-16:00 New York on exchange days (GET /api/v1/clock)'}
  Ctrl-C stops everything.
`);
  } catch (err) {
    console.error(`[start] failed: ${(err as Error).message}`);
    await stopAll(1);
  }
}

await main();
