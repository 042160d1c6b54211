import { Redis } from 'ioredis';

/** One ioredis connection with bounded retries; commands fail fast instead of queueing forever. */
export function connectRedis(url: string, name: string): Redis {
  return new Redis(url, {
    connectionName: name,
    maxRetriesPerRequest: 2,
    enableOfflineQueue: true,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
}
