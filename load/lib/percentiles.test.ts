import { describe, expect, it } from 'vitest';
import { histogramRank, interpolated, nearestRank, nearestRankOf } from './percentiles.js';

describe('nearestRank', () => {
  const ten = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];

  it('takes the value at floor(q * n) of sorted values', () => {
    expect(nearestRank(ten, 0)).toBe(1);
    expect(nearestRank(ten, 0.5)).toBe(6);
    expect(nearestRank(ten, 0.95)).toBe(10);
    expect(nearestRank(ten, 0.99)).toBe(10);
  });

  it('stays on the last value at q = 1 and is NaN without values', () => {
    expect(nearestRank(ten, 1)).toBe(10);
    expect(nearestRank([], 0.5)).toBeNaN();
  });

  it('reads typed arrays too', () => {
    expect(nearestRank(Float64Array.from([10, 20, 30, 40]), 0.5)).toBe(30);
  });

  it('sorts a copy of unsorted values', () => {
    const values = [5, 1, 4, 2, 3];
    expect(nearestRankOf(values, 0.5)).toBe(3);
    expect(values).toEqual([5, 1, 4, 2, 3]);
    expect(nearestRankOf([10, 9, 100], 0.99)).toBe(100);
  });
});

describe('interpolated', () => {
  it('interpolates linearly between the closest ranks, as k6 does', () => {
    expect(interpolated([1, 2, 3, 4], 50)).toBe(2.5);
    expect(interpolated([0, 10], 95)).toBeCloseTo(9.5);
    expect(interpolated([7], 99)).toBe(7);
  });

  it('is 0 without values', () => {
    expect(interpolated([], 95)).toBe(0);
  });
});

describe('histogramRank', () => {
  it('finds the bucket holding the ceil(q * total)-th sample', () => {
    const hist = [0, 5, 3, 0, 2]; // five of 1, three of 2, two of 4
    expect(histogramRank(hist, 10, 0.5)).toBe(1);
    expect(histogramRank(hist, 10, 0.51)).toBe(2);
    expect(histogramRank(hist, 10, 0.8)).toBe(2);
    expect(histogramRank(hist, 10, 0.99)).toBe(4);
  });

  it('is NaN without samples and the last bucket when the counts fall short of the total', () => {
    expect(histogramRank([0, 0, 0], 0, 0.5)).toBeNaN();
    expect(histogramRank([1, 0, 0], 5, 0.99)).toBe(2);
  });
});
