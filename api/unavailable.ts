/**
 * A dependency that cannot be reached is the service being unavailable, not a bug: Temporal down or
 * restarting (a gRPC status that is not a refusal, below; the native client's transport errors), a
 * Postgres connection terminated or refused (postgres.js connection codes, SQLSTATE class 08,
 * 57P01-57P03, 53300), Redis unreachable or not answering in time (ioredis). `onError` answers these 503
 * with Retry-After through this one function; the request changed nothing it could not be retried on
 * (orders are keyed by client_order_id, funding by Idempotency-Key). So is a replace or cancel whose
 * matching step found no shard owner within its schedule-to-close (api/routes/orders.ts).
 */
import { ApiError } from './problem.js';

export type Dependency = 'temporal' | 'postgres' | 'redis' | 'matching';

/**
 * Seconds a client should wait: a restarted dev server or a reconnecting pool is back within that, and
 * a standby matching shard takes over within a second or two.
 */
const RETRY_AFTER: Record<Dependency, number> = { temporal: 2, postgres: 1, redis: 1, matching: 2 };

/**
 * The gRPC codes of a Temporal call that say "the server could not answer now", not "no": the codes
 * the SDK's own client retries (UNKNOWN, RESOURCE_EXHAUSTED, ABORTED, OUT_OF_RANGE, DATA_LOSS, INTERNAL,
 * UNAVAILABLE), so they reach us once its retries ran out, and a call cut off while the server shut
 * down (CANCELLED, DEADLINE_EXCEEDED; the SDK raises the update's as WorkflowUpdateRPCTimeoutOrCancelledError
 * with the status as its cause). The api never cancels a call itself. A refusal is another code
 * (NOT_FOUND, ALREADY_EXISTS, INVALID_ARGUMENT, FAILED_PRECONDITION, ...) or a failed update.
 */
const GRPC_UNAVAILABLE = new Set([
  1, // CANCELLED
  2, // UNKNOWN
  4, // DEADLINE_EXCEEDED
  8, // RESOURCE_EXHAUSTED
  10, // ABORTED
  11, // OUT_OF_RANGE
  13, // INTERNAL
  14, // UNAVAILABLE
  15, // DATA_LOSS
]);
const PG_CONNECTION_CODES = new Set([
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  '57P01', // admin_shutdown: pg_terminate_backend, a restart
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now: starting up
  '53300', // too_many_connections
]);
const REDIS_ERRORS = new Set(['MaxRetriesPerRequestError']);
// "Command timed out": no reply within connectRedis's commandTimeout (Redis hung, refused, restarting).
const REDIS_MESSAGES = /^(Connection is closed\.|Stream isn't writeable|Command timed out$)/;

interface Shape {
  name?: string;
  message?: string;
  code?: unknown;
  details?: unknown;
  metadata?: unknown;
  cause?: unknown;
}

function classify(e: Shape): Dependency | undefined {
  // gRPC status errors (@grpc/grpc-js and the SDK's native client both carry code + details + metadata).
  if (typeof e.code === 'number' && typeof e.details === 'string' && GRPC_UNAVAILABLE.has(e.code))
    return 'temporal';
  if (e.name === 'TransportError') return 'temporal';
  if (typeof e.code === 'string' && (PG_CONNECTION_CODES.has(e.code) || e.code.startsWith('08')))
    return 'postgres';
  if (e.name && REDIS_ERRORS.has(e.name)) return 'redis';
  if (e.message && REDIS_MESSAGES.test(e.message)) return 'redis';
  return undefined;
}

/** Which dependency this error (or one of its causes) says is unreachable, if any. */
export function unreachableDependency(err: unknown): Dependency | undefined {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 8; e = (e as Shape).cause, depth++) {
    const found = classify(e);
    if (found) return found;
  }
  return undefined;
}

/** The 503 problem for an unreachable dependency. */
export function serviceUnavailable(dependency: Dependency): ApiError {
  const retryAfter = RETRY_AFTER[dependency];
  return new ApiError(
    'service_unavailable',
    'A service BrokerX depends on is briefly unavailable; retry shortly',
    undefined,
    {
      'retry-after': String(retryAfter),
    },
    { retry_after: retryAfter },
  );
}
