/**
 * Integration-test stack, private to one `npm test` run: its own Temporal dev server (in memory) and
 * Mailpit on free ports, its own Postgres database and Redis key prefix, and the workflow bundle built
 * once. A running `npm start` or a second test run does not interfere. On teardown the processes stop, the
 * databases are dropped and the Redis keys under the run's prefix are removed.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { loadConfig } from '../lib/config.js';
import { removeRedisKeys } from '../lib/redis.js';
import { dropDatabasesNamed, migrateDatabase } from '../db/migrate.js';
import { ensureTools } from '../devstack/tools.js';
import { freePort, startProcess, waitForPort, type Managed } from '../devstack/processes.js';
import { startDevServer } from '../devstack/dev-server.js';
import { buildWorkflowBundle } from '../workers/trading/bundle.js';

declare module 'vitest' {
  export interface ProvidedContext {
    env: Record<string, string>;
    workflowBundlePath: string;
  }
}

export default async function setup(project: TestProject) {
  const base = loadConfig(process.env);
  const tools = await ensureTools(base.BROKERX_TOOLS_DIR, (l) => console.log(`[tools] ${l}`));
  const runId = `${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), 'brokerx-test-'));

  const [tPort, tHttp, tMetrics, smtpPort, mailHttp] = await Promise.all([
    freePort(),
    freePort(),
    freePort(),
    freePort(),
    freePort(),
  ]);
  const procs: Managed[] = [];
  const temporalP = startDevServer({
    bin: tools.temporal,
    dbFile: join(dir, 'temporal.db'),
    port: tPort,
    httpPort: tHttp,
    metricsPort: tMetrics,
    output: 'ignore',
  });
  const mailpit = startProcess(
    'mailpit',
    tools.mailpit,
    [
      '--smtp',
      `127.0.0.1:${smtpPort}`,
      '--listen',
      `127.0.0.1:${mailHttp}`,
      '--database',
      join(dir, 'mailpit.db'),
      '--smtp-auth-accept-any',
      '--smtp-auth-allow-insecure',
      '--max',
      '5000',
    ],
    { output: 'ignore' },
  );
  procs.push(mailpit);

  const dbUrl = new URL(base.DATABASE_URL);
  dbUrl.pathname = `/brokerx_test_${runId}`;
  // A migrated template nobody connects to: files that run their own workers clone it (test/isolated.ts).
  const templateUrl = new URL(dbUrl);
  templateUrl.pathname = `/brokerx_test_${runId}_template`;
  const env: Record<string, string> = {
    NODE_ENV: 'test',
    // Quiet by default: TEST_LOG_LEVEL=info (or debug) npm test shows the api's and workers' lines.
    LOG_LEVEL: base.TEST_LOG_LEVEL,
    TEMPORAL_LOG_LEVEL: base.TEMPORAL_LOG_LEVEL,
    DATABASE_URL: dbUrl.toString(),
    REDIS_URL: base.REDIS_URL,
    REDIS_PREFIX: `brokerx:test:${runId}:`,
    TEMPORAL_ADDRESS: `127.0.0.1:${tPort}`,
    TASK_QUEUE_PREFIX: `t${runId}-`,
    SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
    MAILPIT_URL: `http://127.0.0.1:${mailHttp}`,
    BROKERX_TOOLS_DIR: base.BROKERX_TOOLS_DIR,
    TEST_TEMPLATE_DATABASE: templateUrl.pathname.slice(1),
  };

  const [temporal, , , bundle] = await Promise.all([
    temporalP,
    waitForPort(mailHttp, 'Mailpit', 30_000, mailpit),
    migrateDatabase(env.DATABASE_URL!).then(() => migrateDatabase(templateUrl.toString())),
    buildWorkflowBundle(),
  ]);
  procs.push(temporal);
  const bundlePath = join(dir, 'workflow-bundle.js');
  writeFileSync(bundlePath, bundle.code);

  project.provide('env', env);
  project.provide('workflowBundlePath', bundlePath);

  return async () => {
    await Promise.allSettled([
      ...procs.map((p) => p.stop('SIGTERM', 5000)),
      removeRedisKeys(base.REDIS_URL, env.REDIS_PREFIX!),
    ]);
    await dropDatabasesNamed(base.DATABASE_URL, `brokerx_test_${runId}`);
    rmSync(dir, { recursive: true, force: true });
  };
}
