/**
 * A test file that runs its own workers (trading, matching shards, relay) needs its own database, task
 * queues and Redis prefix: matching shards are single-writer per database (advisory locks), so two
 * files sharing one database would stand each other by. `isolatedEnv()` clones the run's migrated
 * template database (fast) and derives fresh prefixes.
 */
import { randomBytes, randomInt } from 'node:crypto';
import postgres from 'postgres';
import { inject } from 'vitest';

/** Env overrides for an isolated database and prefixes; pass them to testConfig() and createTestApi(). */
export async function isolatedEnv(
  tag: string,
  overrides: Record<string, string> = {},
): Promise<Record<string, string>> {
  const env = inject('env');
  const template = env.TEST_TEMPLATE_DATABASE!;
  const suffix = `${tag
    .replace(/[^a-z0-9]/gi, '')
    .toLowerCase()
    .slice(0, 12)}_${randomBytes(3).toString('hex')}`;
  const name = `${template.replace(/_template$/, '')}_${suffix}`;
  const url = new URL(env.DATABASE_URL!);
  const admin = postgres(url.toString().replace(/\/[^/]*$/, '/postgres'), { max: 1, onnotice: () => {} });
  try {
    // Two files cloning the same template at the same moment: Postgres refuses the second; retry.
    for (let attempt = 0; ; attempt++) {
      try {
        await admin.unsafe(`CREATE DATABASE "${name}" TEMPLATE "${template}"`);
        break;
      } catch (err) {
        if (attempt >= 50 || !/being accessed by other users/.test(String(err))) throw err;
        await new Promise((r) => setTimeout(r, 100 + randomInt(200)));
      }
    }
  } finally {
    await admin.end({ timeout: 5 });
  }
  url.pathname = `/${name}`;
  return {
    DATABASE_URL: url.toString(),
    TASK_QUEUE_PREFIX: `${env.TASK_QUEUE_PREFIX}${suffix}-`,
    REDIS_PREFIX: `${env.REDIS_PREFIX}${suffix}:`,
    ...overrides,
  };
}
