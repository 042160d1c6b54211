import { describe, expect, it } from 'vitest';
import { formatCents, price, toCents, usd } from './money.js';

describe('web money', () => {
  it('reads JSON numbers and decimal strings into exact cents', () => {
    expect(toCents(191.5)).toBe(19150n);
    expect(toCents(0.1)).toBe(10n);
    expect(toCents(0.29)).toBe(29n);
    expect(toCents('1000.05')).toBe(100005n);
    expect(toCents(-3)).toBe(-300n);
  });

  it('refuses what is not a two-decimal amount', () => {
    for (const bad of ['1.234', 'abc', '', '1e5', Number.NaN, 1e21, null, undefined])
      expect(toCents(bad)).toBe(undefined);
  });

  it('formats cents with grouping', () => {
    expect(formatCents(123456789n)).toBe('1,234,567.89');
    expect(formatCents(-5n)).toBe('-0.05');
    expect(usd(100000n)).toBe('$1,000.00');
    expect(usd(undefined)).toBe('—');
    expect(price(190)).toBe('190.00');
  });
});
