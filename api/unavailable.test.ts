import { ServiceError, WorkflowUpdateRPCTimeoutOrCancelledError } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { serviceUnavailable, unreachableDependency } from './unavailable.js';

/** A gRPC status error as @grpc/grpc-js and the SDK's native client raise it. */
const grpcError = (code: number) =>
  Object.assign(new Error(`${code} status`), { code, details: 'status', metadata: {} });

describe('unreachableDependency', () => {
  it('recognises Temporal unavailable, deadline exceeded and exhausted, also as the cause of a client ServiceError', () => {
    expect(unreachableDependency(grpcError(14))).toBe('temporal');
    expect(unreachableDependency(grpcError(4))).toBe('temporal');
    expect(
      unreachableDependency(new ServiceError('Update-With-Start failed', { cause: grpcError(14) })),
    ).toBe('temporal');
    expect(
      unreachableDependency(Object.assign(new Error('transport error'), { name: 'TransportError' })),
    ).toBe('temporal');
  });

  it('recognises what the SDK retries and gave up on, and a call cut off by a server shutting down', () => {
    for (const code of [2, 10, 11, 13, 15]) expect(unreachableDependency(grpcError(code))).toBe('temporal');
    // An update in flight when the server stopped: the SDK wraps the CANCELLED status.
    expect(
      unreachableDependency(
        new WorkflowUpdateRPCTimeoutOrCancelledError('context canceled', { cause: grpcError(1) }),
      ),
    ).toBe('temporal');
    // The saga's result read (an order id seen before) while the server restarts.
    expect(
      unreachableDependency(new ServiceError('Failed to get workflow history', { cause: grpcError(13) })),
    ).toBe('temporal');
  });

  it('recognises a terminated or refused Postgres connection, also wrapped by drizzle', () => {
    expect(
      unreachableDependency(
        Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }),
      ),
    ).toBe('postgres');
    expect(
      unreachableDependency(
        Object.assign(new Error('write CONNECTION_CLOSED'), { code: 'CONNECTION_CLOSED' }),
      ),
    ).toBe('postgres');
    expect(unreachableDependency(Object.assign(new Error('connection failure'), { code: '08006' }))).toBe(
      'postgres',
    );
    expect(
      unreachableDependency(
        new Error('Failed query: select 1', {
          cause: Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }),
        }),
      ),
    ).toBe('postgres');
  });

  it('recognises ioredis giving up on a command or timing it out', () => {
    expect(
      unreachableDependency(
        Object.assign(new Error('Reached the max retries per request limit'), {
          name: 'MaxRetriesPerRequestError',
        }),
      ),
    ).toBe('redis');
    expect(unreachableDependency(new Error('Connection is closed.'))).toBe('redis');
    // No reply within the connection's commandTimeout (lib/redis.ts): a hung or refused Redis.
    expect(unreachableDependency(new Error('Command timed out'))).toBe('redis');
  });

  it('leaves business and programming errors alone', () => {
    expect(unreachableDependency(grpcError(3))).toBeUndefined(); // INVALID_ARGUMENT
    expect(unreachableDependency(grpcError(5))).toBeUndefined(); // NOT_FOUND
    expect(unreachableDependency(grpcError(6))).toBeUndefined(); // ALREADY_EXISTS
    expect(unreachableDependency(grpcError(9))).toBeUndefined(); // FAILED_PRECONDITION
    expect(
      unreachableDependency(Object.assign(new Error('check violation'), { code: '23514' })),
    ).toBeUndefined();
    expect(unreachableDependency(new TypeError('x is undefined'))).toBeUndefined();
    expect(unreachableDependency(undefined)).toBeUndefined();
  });
});

describe('serviceUnavailable', () => {
  it('is a 503 with Retry-After', () => {
    const e = serviceUnavailable('temporal');
    expect(e.status).toBe(503);
    expect(e.headers).toEqual({ 'retry-after': '2' });
  });
});
