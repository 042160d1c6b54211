/**
 * `npm run audit`: check the books of the configured database (DATABASE_URL) and print every finding,
 * one readable line each. Exit 0 when there is none, 1 otherwise, 2 when it cannot audit (configuration,
 * database unreachable).
 *   --pending-grace=<seconds>  report pending orders older than this (default 60)
 * The outbox is checked within OUTBOX_RETENTION_DAYS (older events may have been deleted).
 * Run it on a quiescent system: sagas between two steps are a legitimate, short-lived imbalance.
 */
import { applicationName, loadConfigOrExit } from '../lib/config.js';
import { connectDatabase } from '../db/client.js';
import { formatFinding, runAudit } from '../db/audit.js';

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
try {
  const findings = await runAudit(database.db, {
    pendingGraceSeconds,
    outboxRetentionDays: config.OUTBOX_RETENTION_DAYS,
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
  await database.close();
}
