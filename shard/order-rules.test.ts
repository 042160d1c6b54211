import { describe, expect, it } from 'vitest';
import { FailureType } from '../temporal/failures.js';
import { checkLimitPrice } from './order-rules.js';

describe('checkLimitPrice', () => {
  const rules = { tickSize: 1n, lotSize: 1n, referencePrice: 10_000n, priceBandBps: 1_000 };

  it('states the price band in dollars, as the order states its prices', () => {
    expect(checkLimitPrice(rules, 15_000n)).toEqual({
      type: FailureType.PriceOutsideBand,
      message: 'Price must be between 90.00 and 110.00 (USD)',
    });
    expect(checkLimitPrice(rules, 8_999n, 'Stop price')?.message).toBe(
      'Stop price must be between 90.00 and 110.00 (USD)',
    );
    expect(checkLimitPrice(rules, 11_000n)).toBeNull();
  });
});
