/**
 * Trusted login sources (step-up.ts) against the real Postgres, with a clock the test moves: a source stays
 * trusted for 90 days from its own last login, not as long as the account logs in from anywhere; and it
 * stays trusted whatever happens to Redis.
 */
import { eq } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import type { Database } from '../../db/client.js';
import { insertUser } from '../../db/queries/users.js';
import { trustedSources } from '../../db/schema.js';
import { connectRedis } from '../../lib/redis.js';
import { testConfig, testDatabase, uniqueEmail } from '../../test/helpers.js';
import { StepUp } from './step-up.js';

const config = testConfig();
const { REDIS_URL, REDIS_PREFIX } = config;
const redis = connectRedis(REDIS_URL, 'test-step-up');
const database: Database = testDatabase(config);
afterAll(async () => {
  redis.disconnect();
  await database.close();
});

const DAY_MS = 24 * 3600 * 1000;

/** A user's address, and a StepUp whose clock is `offsetMs()` ahead. */
async function account(tag: string, offsetMs = () => 0) {
  const email = uniqueEmail(tag);
  const user = await insertUser(database.db, {
    email,
    passwordHash: 'x',
    firstName: 'Step',
    lastName: 'Up',
    totpSecret: 'JBSWY3DPEHPK3PXP',
    createdAt: new Date(),
  });
  const stepUp = new StepUp(redis, database.db, REDIS_PREFIX, 300, () => new Date(Date.now() + offsetMs()));
  return { email, userId: user!.id, stepUp };
}

describe('trusted sources', () => {
  it('lapse 90 days after their own last login, however often the account logs in elsewhere', async () => {
    let offsetMs = 0;
    const { email, stepUp } = await account('lapse', () => offsetMs);
    const [old, recent] = ['192.0.2.1', '192.0.2.2'];

    expect(await stepUp.trust(email, old)).toBe(true);
    expect(await stepUp.trust(email, old)).toBe(false); // known
    offsetMs = 30 * DAY_MS;
    expect(await stepUp.trust(email, recent)).toBe(true);
    offsetMs = 89 * DAY_MS;
    expect(await stepUp.isTrusted(email, old)).toBe(true);
    expect(await stepUp.isTrusted(email.toUpperCase(), old)).toBe(true); // the address as typed

    offsetMs = 91 * DAY_MS; // the old source's last login was 91 days ago, the recent one's 61
    expect(await stepUp.isTrusted(email, old)).toBe(false);
    expect(await stepUp.isTrusted(email, recent)).toBe(true);
    expect(await stepUp.trust(email, recent)).toBe(false);
    expect(await stepUp.isTrusted(email, old)).toBe(false); // a login elsewhere did not renew it
    // Logging in from the lapsed source again makes it a new source (its owner hears of it) and trusted.
    expect(await stepUp.trust(email, old)).toBe(true);
    expect(await stepUp.isTrusted(email, old)).toBe(true);
    expect(await stepUp.trust(email, old)).toBe(false);
  });

  it('drops lapsed sources as it trusts new ones, so the rows do not grow with every address ever used', async () => {
    let offsetMs = 0;
    const { email, userId, stepUp } = await account('churn', () => offsetMs);
    // A login a day, each from a new address, for 200 days: the last 90 stay.
    for (let day = 0; day < 200; day++) {
      offsetMs = day * DAY_MS;
      expect(await stepUp.trust(email, `198.51.100.${day}`)).toBe(true);
    }
    const rows = await database.db.select().from(trustedSources).where(eq(trustedSources.userId, userId));
    expect(rows).toHaveLength(90);
    expect(await stepUp.isTrusted(email, '198.51.100.0')).toBe(false);
    expect(await stepUp.isTrusted(email, '198.51.100.199')).toBe(true);
  });

  it('of logins racing from a new or lapsed source, exactly one answers new', async () => {
    let offsetMs = 0;
    const { email, stepUp } = await account('race', () => offsetMs);
    const race = async () =>
      (await Promise.all(Array.from({ length: 8 }, () => stepUp.trust(email, '203.0.113.9')))).filter(Boolean)
        .length;
    expect(await race()).toBe(1);
    offsetMs = 91 * DAY_MS;
    expect(await race()).toBe(1);
  });

  it('an unknown address trusts nothing and is trusted nowhere', async () => {
    const stepUp = new StepUp(redis, database.db, REDIS_PREFIX, 300, () => new Date());
    const email = uniqueEmail('nobody');
    expect(await stepUp.trust(email, '192.0.2.3')).toBe(false);
    expect(await stepUp.isTrusted(email, '192.0.2.3')).toBe(false);
  });
});
