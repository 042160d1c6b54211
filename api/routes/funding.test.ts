import { describe, expect, it } from 'vitest';
import { ApiError } from '../problem.js';
import { idempotencyKeyOf, parseTransferAmount } from './funding.js';

const fails = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return err instanceof ApiError ? `${err.status} ${err.errors?.join(',') ?? err.message}` : String(err);
  }
  return 'ok';
};

describe('transfer amounts', () => {
  it('parses exactly into cents', () => {
    expect(parseTransferAmount('100.50')).toBe(10050n);
    expect(parseTransferAmount(100.5)).toBe(10050n);
    expect(parseTransferAmount(0.01)).toBe(1n);
    expect(parseTransferAmount('1000000.00')).toBe(100_000_000n);
  });

  it('refuses zero, negatives, 3 decimals, the maximum + 1 cent and non-numbers', () => {
    expect(fails(() => parseTransferAmount(0))).toBe('422 amount: must be positive');
    expect(fails(() => parseTransferAmount('-1'))).toBe('422 amount: must be positive');
    expect(fails(() => parseTransferAmount('0.001'))).toBe('422 amount: must have at most 2 decimals');
    expect(fails(() => parseTransferAmount(0.1 + 0.2))).toBe('422 amount: must have at most 2 decimals');
    expect(fails(() => parseTransferAmount('1000000.01'))).toBe('422 amount: must be at most 1000000.00');
    expect(fails(() => parseTransferAmount('1e3'))).toBe('422 amount: must be a decimal number');
    expect(fails(() => parseTransferAmount(null))).toBe('422 amount: must be a number or a decimal string');
  });
});

describe('Idempotency-Key header', () => {
  it('is required and restricted to a safe alphabet', () => {
    expect(idempotencyKeyOf('3f2b5c9e-2d1a-4c55-9a0e-8f1b2c3d4e5f')).toBe(
      '3f2b5c9e-2d1a-4c55-9a0e-8f1b2c3d4e5f',
    );
    expect(fails(() => idempotencyKeyOf(undefined))).toMatch(/^400/);
    expect(fails(() => idempotencyKeyOf(''))).toMatch(/^400/);
    expect(fails(() => idempotencyKeyOf('a b'))).toMatch(/^400/);
    expect(fails(() => idempotencyKeyOf('k'.repeat(129)))).toMatch(/^400/);
  });
});
