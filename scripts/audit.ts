/**
 * `npm run audit`: check the books of the configured database (DATABASE_URL) and print every finding,
 * one readable line each; and ask Temporal (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE) about the saga of
 * every open order (order_saga_missing: none runs). Exit 0 when there is none, 1 otherwise, 2 when it
 * cannot audit (configuration, database or Temporal unreachable).
 *   --pending-grace=<seconds>  report pending orders older than this (default 60)
 *   --no-sagas                 the database only: do not ask Temporal
 * The outbox is checked within OUTBOX_RETENTION_DAYS (older events may have been deleted).
 * Run it on a quiescent system: sagas between two steps are a legitimate, short-lived imbalance.
 */
import { Client, Connection } from '@temporalio/client';
import { applicationName, loadConfigOrExit } from '../lib/config.js';
import { connectDatabase } from '../db/client.js';
import { formatFinding, runAudit } from '../db/audit.js';
import { sagaRunning } from '../temporal/saga-recovery.js';

const config = loadConfigOrExit(process.env);
const graceArg = process.argv.find((a) => a.startsWith('--pending-grace='));
const pendingGraceSeconds = graceArg ? Number(graceArg.split('=')[1]) : 60;
if (!Number.isFinite(pendingGraceSeconds) || pendingGraceSeconds < 0) {
  console.error('--pending-grace must be a number of seconds');
  process.exit(2);
}

const database = connectDatabase(config.DATABASE_URL, {
  max: 1,
  appName: applicationName({ ...config, INSTANCE_ID: 'audit' }, 'audit'),
});
const where = new URL(config.DATABASE_URL);
let connection: Connection | undefined;
try {
  if (!process.argv.includes('--no-sagas'))
    connection = await Connection.connect({ address: config.TEMPORAL_ADDRESS, connectTimeout: 10_000 }).catch(
      (err: Error) => {
        throw new Error(`Temporal at ${config.TEMPORAL_ADDRESS}: ${err.message} (--no-sagas skips it)`);
      },
    );
  const temporal = connection && new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
  const findings = await runAudit(database.db, {
    pendingGraceSeconds,
    outboxRetentionDays: config.OUTBOX_RETENTION_DAYS,
    sagaRunning: temporal && ((id) => sagaRunning(temporal.workflow, id)),
  });
  for (const f of findings) console.log(formatFinding(f));
  const where = new URL(config.DATABASE_URL);
  console.log(
    `${findings.length} finding${findings.length === 1 ? '' : 's'} in ${where.host}${where.pathname}`,
  );
  process.exitCode = findings.length ? 1 : 0;
} catch (err) {
  const cause = (err as { cause?: Error }).cause ?? (err as Error); // drizzle wraps the driver's error
  console.error(`cannot audit ${where.host}${where.pathname}: ${cause.message}`);
  process.exitCode = 2;
} finally {
  await connection?.close();
  await database.close();
}
