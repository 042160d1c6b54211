import { Redis } from 'ioredis';

/**
 * One ioredis connection with bounded retries; commands fail fast instead of queueing forever, and the
 * connection comes back by itself (ADR 0017 says what each caller does meanwhile).
 */
export function connectRedis(url: string, name: string): Redis {
  const redis = new Redis(url, {
    connectionName: name,
    maxRetriesPerRequest: 2,
    enableOfflineQueue: true,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
  // Every failed command reaches its caller; without a listener ioredis also prints each reconnect
  // attempt's error ("Unhandled error event") to stderr, several a second for the whole outage.
  redis.on('error', () => undefined);
  return redis;
}
