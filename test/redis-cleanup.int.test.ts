import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { connectRedis } from '../lib/redis.js';
import { removeRedisKeys } from '../lib/redis.js';
import { testConfig } from './helpers.js';

const { REDIS_URL } = testConfig();
const redis = connectRedis(REDIS_URL, 'test-cleanup');
afterAll(() => redis.disconnect());

describe('test teardown', () => {
  it("removes every Redis key under the run's prefix and nothing else", async () => {
    const prefix = `brokerx:test:cleanup-${randomUUID().slice(0, 8)}:`;
    const outside = `brokerx:test:other-${randomUUID().slice(0, 8)}:keep`;
    for (let i = 0; i < 1200; i++) await redis.set(`${prefix}rl:${i}`, '1', 'EX', 600);
    await redis.set(outside, '1', 'EX', 600);

    expect(await removeRedisKeys(REDIS_URL, prefix)).toBe(1200);
    expect(await redis.exists(`${prefix}rl:0`, `${prefix}rl:1199`)).toBe(0);
    expect(await redis.get(outside)).toBe('1');
    await redis.del(outside);
  });
});
