/**
 * Trusted login sources (step-up.ts) against the real Redis, with a clock the test moves: a source stays
 * trusted for 90 days from its own last login, not as long as the account logs in from anywhere.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { connectRedis } from '../../lib/redis.js';
import { testConfig, uniqueEmail } from '../../test/helpers.js';
import { keyId } from './crypto.js';
import { StepUp, TRUSTED_SOURCE_TTL_SECONDS } from './step-up.js';

const { REDIS_URL, REDIS_PREFIX } = testConfig();
const redis = connectRedis(REDIS_URL, 'test-step-up');
afterAll(() => redis.disconnect());

const DAY_MS = 24 * 3600 * 1000;

describe('trusted sources', () => {
  it('lapse 90 days after their own last login, however often the account logs in elsewhere', async () => {
    let offsetMs = 0;
    const stepUp = new StepUp(redis, REDIS_PREFIX, 300, () => new Date(Date.now() + offsetMs));
    const email = uniqueEmail('lapse');
    const [old, recent] = ['192.0.2.1', '192.0.2.2'];

    expect(await stepUp.trust(email, old)).toBe(true);
    expect(await stepUp.trust(email, old)).toBe(false); // known
    offsetMs = 30 * DAY_MS;
    expect(await stepUp.trust(email, recent)).toBe(true);
    offsetMs = 89 * DAY_MS;
    expect(await stepUp.isTrusted(email, old)).toBe(true);

    offsetMs = 91 * DAY_MS; // the old source's last login was 91 days ago, the recent one's 61
    expect(await stepUp.isTrusted(email, old)).toBe(false);
    expect(await stepUp.isTrusted(email, recent)).toBe(true);
    expect(await stepUp.trust(email, recent)).toBe(false);
    expect(await stepUp.isTrusted(email, old)).toBe(false); // a login elsewhere did not renew it
    // Logging in from the lapsed source again makes it a new source (its owner hears of it) and trusted.
    expect(await stepUp.trust(email, old)).toBe(true);
    expect(await stepUp.isTrusted(email, old)).toBe(true);
  });

  it('drops lapsed sources as it trusts new ones, so the set does not grow with every address ever used', async () => {
    let offsetMs = 0;
    const stepUp = new StepUp(redis, REDIS_PREFIX, 300, () => new Date(Date.now() + offsetMs));
    const email = uniqueEmail('churn');
    // A login a day, each from a new address, for 200 days: the last 90 stay.
    for (let day = 0; day < 200; day++) {
      offsetMs = day * DAY_MS;
      await stepUp.trust(email, `198.51.100.${day}`);
    }
    const key = `${REDIS_PREFIX}auth:trusted-source-times:${keyId(email)}`;
    expect(await redis.zcard(key)).toBe(90);
    expect(await redis.ttl(key)).toBeLessThanOrEqual(TRUSTED_SOURCE_TTL_SECONDS);
    expect(await stepUp.isTrusted(email, '198.51.100.0')).toBe(false);
    expect(await stepUp.isTrusted(email, '198.51.100.199')).toBe(true);
  });

  it("a source in an account's old plain set stays trusted until that set expires", async () => {
    const stepUp = new StepUp(redis, REDIS_PREFIX, 300, () => new Date());
    const email = uniqueEmail('legacy');
    const legacy = `${REDIS_PREFIX}auth:trusted-sources:${keyId(email)}`;
    await redis.sadd(legacy, keyId('192.0.2.9'));
    await redis.expire(legacy, 60);
    expect(await stepUp.isTrusted(email, '192.0.2.9')).toBe(true);
    expect(await stepUp.isTrusted(email, '192.0.2.10')).toBe(false);
    expect(await stepUp.trust(email, '192.0.2.9')).toBe(false); // no new-login mail for it
    expect(await stepUp.trust(email, '192.0.2.10')).toBe(true);
    await redis.del(legacy);
  });
});
