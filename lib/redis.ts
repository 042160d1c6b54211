import { Redis } from 'ioredis';
import { countIo, ioCountsEnabled } from './io-counts.js';

/**
 * How long a command waits for its reply, sent or queued while the connection is down: with Redis
 * refused, restarting or hung (stopped, partitioned: the connection open, nothing answered), each command
 * fails after this with ioredis' "Command timed out". A command already sent may still run once a hung
 * Redis resumes; one that failed before it was sent never runs. A healthy Redis answers in well under a
 * millisecond.
 */
const REDIS_COMMAND_TIMEOUT_MS = 1000;

/**
 * One ioredis connection whose commands fail within REDIS_COMMAND_TIMEOUT_MS instead of queueing or
 * waiting forever, and which comes back by itself (ADR 0017 says what each caller does meanwhile).
 */
export function connectRedis(url: string, name: string): Redis {
  const redis = new Redis(url, {
    connectionName: name,
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
  // Every failed command reaches its caller; without a listener ioredis also prints each reconnect
  // attempt's error ("Unhandled error event") to stderr, several a second for the whole outage.
  redis.on('error', () => undefined);
  const counted = ioCountsEnabled();
  const send = redis.sendCommand.bind(redis);
  redis.sendCommand = (command, stream) => {
    // A command the timeout already failed (its caller answered 503) is not sent: ioredis keeps it in
    // its offline queue, or among those a dropped connection left unanswered, and sends those on
    // reconnect: a rate-limit hit would count, a token be consumed, after the request had failed.
    if (command.isSettled) return command.promise;
    if (counted) {
      // IO_COUNTS=on only: count the commands this connection sends, publishes apart.
      countIo('redis_commands');
      if (command.name === 'publish') countIo('redis_publishes');
    }
    return send(command, stream);
  };
  return redis;
}

/**
 * Remove every key under `prefix` (a test run's, a benchmark's or a cluster's: rate limits, caches,
 * idempotency, feed state). SCAN, never KEYS: other runs and `npm start` share the Redis.
 */
export async function removeRedisKeys(url: string, prefix: string): Promise<number> {
  const redis = connectRedis(url, 'cleanup');
  let removed = 0;
  try {
    for await (const keys of redis.scanStream({
      match: `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`,
      count: 500,
    }) as AsyncIterable<string[]>) {
      if (keys.length) removed += await redis.unlink(...keys);
    }
  } finally {
    redis.disconnect();
  }
  return removed;
}
