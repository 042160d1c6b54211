import { describe, expect, it } from 'vitest';
import { FAILURE_MESSAGES, FailureType, businessFailure, readBusinessFailure } from '../temporal/failures.js';
import { FAILURE_PROBLEMS, failureProblem } from './failures.js';
import { PROBLEM_STATUS } from './problem.js';

describe('business failures as problems', () => {
  it('the table spells out each problem code with its status', () => {
    for (const [type, p] of Object.entries(FAILURE_PROBLEMS))
      expect([type, p.status]).toEqual([type, PROBLEM_STATUS[p.code]]);
  });

  it('refusals clients know are 422 validation_failed with the client text first, the reason after', () => {
    const e = failureProblem(
      { type: FailureType.InsufficientFunds, message: FAILURE_MESSAGES.InsufficientFunds },
      { order_id: 'o1' },
    );
    expect([e.status, e.code, e.message, e.errors, e.extra]).toEqual([
      422,
      'validation_failed',
      'Insufficient funds',
      ['Insufficient funds'],
      { order_id: 'o1' },
    ]);
    const lot = failureProblem({
      type: FailureType.InvalidLot,
      message: 'Quantity must be a multiple of the lot size 10',
    });
    expect(lot.errors).toEqual([
      'Quantity is not a multiple of the lot size',
      'Quantity must be a multiple of the lot size 10',
    ]);
  });

  it('a version conflict is 409 version_conflict, a closed order 409 order_closed, both with their reason', () => {
    const v = failureProblem({
      type: FailureType.VersionConflict,
      message: 'client_version 0 does not match lock_version 1',
    });
    expect([v.status, v.code, v.errors]).toEqual([
      409,
      'version_conflict',
      ['client_version 0 does not match lock_version 1'],
    ]);
    const c = failureProblem({ type: FailureType.OrderTerminal, message: 'Order is cancelled' });
    expect([c.status, c.code, c.errors]).toEqual([409, 'order_closed', ['Order is cancelled']]);
  });

  it('a compensated placement is 503 with Retry-After; a reject without a type is a 422 with its message', () => {
    const p = failureProblem({ type: FailureType.ProcessingFailed, message: 'anything' });
    expect([p.status, p.code, p.message, p.errors, p.headers]).toEqual([
      503,
      'service_unavailable',
      FAILURE_MESSAGES.ProcessingFailed,
      undefined,
      { 'retry-after': '1' },
    ]);
    const u = failureProblem({ message: 'No liquidity' });
    expect([u.status, u.code, u.errors]).toEqual([422, 'validation_failed', ['No liquidity']]);
  });
});

describe('the failure builder and reader', () => {
  it('build a non-retryable benign failure with typed details and read it back, also as a cause', () => {
    const f = businessFailure(FailureType.VersionConflict, 'stale', { clientVersion: 0, lockVersion: 2 });
    expect([f.nonRetryable, f.category, f.type]).toEqual([true, 'BENIGN', 'VersionConflict']);
    const read = { type: 'VersionConflict', message: 'stale', details: { clientVersion: 0, lockVersion: 2 } };
    expect(readBusinessFailure(f)).toEqual(read);
    expect(readBusinessFailure(new Error('update failed', { cause: f }))).toEqual(read);
    expect(readBusinessFailure(businessFailure(FailureType.InsufficientFunds))).toEqual({
      type: 'InsufficientFunds',
      message: 'Insufficient funds',
      details: undefined,
    });
  });

  it('read nothing from other errors', () => {
    expect(readBusinessFailure(new Error('boom'))).toBeUndefined();
    expect(readBusinessFailure(undefined)).toBeUndefined();
  });
});
