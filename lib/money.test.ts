import { describe, expect, it } from 'vitest';
import { exactCount, exactNumber, formatDecimal, parseDecimal, toJsonNumber } from './money.js';

describe('parseDecimal', () => {
  it('parses strings and JSON numbers exactly', () => {
    expect(parseDecimal('100.50', 2)).toEqual({ ok: true, value: 10050n });
    expect(parseDecimal(100.5, 2)).toEqual({ ok: true, value: 10050n });
    expect(parseDecimal(0.1, 2)).toEqual({ ok: true, value: 10n });
    expect(parseDecimal(0.29, 2)).toEqual({ ok: true, value: 29n }); // 0.29 * 100 = 28.999999999999996 in floats
    expect(parseDecimal('7', 0)).toEqual({ ok: true, value: 7n });
    expect(parseDecimal('-3.2', 2)).toEqual({ ok: true, value: -320n });
  });
  it('rejects too many decimals, junk, exponents and non-numbers', () => {
    expect(parseDecimal('1.001', 2).ok).toBe(false);
    expect(parseDecimal(1.001, 2).ok).toBe(false);
    expect(parseDecimal('1e3', 2).ok).toBe(false);
    expect(parseDecimal(1e21, 2).ok).toBe(false);
    expect(parseDecimal('abc', 2).ok).toBe(false);
    expect(parseDecimal('', 2).ok).toBe(false);
    expect(parseDecimal(Number.NaN, 2).ok).toBe(false);
    expect(parseDecimal(null, 2).ok).toBe(false);
    expect(parseDecimal({}, 2).ok).toBe(false);
    expect(parseDecimal('1.5', 0).ok).toBe(false);
  });
});

describe('formatDecimal', () => {
  it('formats with a fixed scale', () => {
    expect(formatDecimal(12345n, 2)).toBe('123.45');
    expect(formatDecimal(5n, 2)).toBe('0.05');
    expect(formatDecimal(-5n, 2)).toBe('-0.05');
    expect(formatDecimal(42n, 0)).toBe('42');
    expect(toJsonNumber(10050n, 2)).toBe(100.5);
  });
});

describe('exactNumber', () => {
  it('gives whole counts as exact numbers up to 2^53 - 1', () => {
    expect(exactNumber(0n)).toBe(0);
    expect(exactNumber(-250n)).toBe(-250);
    expect(exactNumber(9_007_199_254_740_991n)).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('refuses a count a double would round', () => {
    expect(() => exactNumber(9_007_199_254_740_993n)).toThrow(RangeError);
    expect(() => exactNumber(-9_007_199_254_740_993n)).toThrow(RangeError);
  });

  it('reads a count carried as digits exactly, and refuses what is not a whole count', () => {
    expect(exactCount('12')).toBe(12);
    expect(exactCount('9007199254740991')).toBe(Number.MAX_SAFE_INTEGER);
    expect(() => exactCount('9007199254740993')).toThrow(RangeError);
    expect(() => exactCount('2.5')).toThrow(SyntaxError);
  });
});
