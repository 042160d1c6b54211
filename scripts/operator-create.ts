/**
 * `npm run operator:create -- --email ops@example.com [--first-name Ada] [--last-name Lovelace]`: create
 * an operator (api/auth/operators.ts) in the database of DATABASE_URL. The password comes from the
 * OPERATOR_PASSWORD environment variable (never the command line, which other users can read), or is
 * generated and printed once. The operator then logs in with the same second factor as clients.
 * Exit 0 when created, 1 when refused (bad input, email taken), 2 when it cannot run.
 */
import { parseArgs } from 'node:util';
import { applicationName, loadConfigOrExit } from '../lib/config.js';
import { connectDatabase } from '../db/client.js';
import { createOperator } from '../api/auth/operators.js';

let args;
try {
  args = parseArgs({
    options: {
      email: { type: 'string' },
      'first-name': { type: 'string' },
      'last-name': { type: 'string' },
    },
  }).values;
} catch (err) {
  console.error((err as Error).message);
  process.exit(2);
}
if (!args.email) {
  console.error('usage: npm run operator:create -- --email <address> [--first-name X] [--last-name Y]');
  process.exit(2);
}

const config = loadConfigOrExit(process.env);
const database = connectDatabase(config.DATABASE_URL, {
  max: 1,
  appName: applicationName({ ...config, INSTANCE_ID: 'operator-create' }, 'operator-create'),
});
try {
  const result = await createOperator(
    database.db,
    {
      email: args.email,
      password: process.env.OPERATOR_PASSWORD || undefined,
      firstName: args['first-name'],
      lastName: args['last-name'],
    },
    new Date(),
  );
  if (!result.ok) {
    console.error(`operator not created: ${result.error}`);
    process.exitCode = 1;
  } else {
    console.log(`operator ${args.email} created (user ${result.userId})`);
    if (result.password) console.log(`password (shown once): ${result.password}`);
    process.exitCode = 0;
  }
} catch (err) {
  const cause = (err as { cause?: Error }).cause ?? (err as Error);
  console.error(`cannot create the operator: ${cause.message}`);
  process.exitCode = 2;
} finally {
  await database.close();
}
