import { describe, expect, it } from 'vitest';
import { summarize, summaryTable, type Sample } from './drivers.js';

const samples = (ms: number[], status = 200): Sample[] => ms.map((m) => ({ ms: m, status }));

describe('summarize', () => {
  const run = {
    label: 'orders',
    seconds: 2,
    samples: [
      ...samples([10, 20, 30, 40]),
      ...samples([1, 1], 429),
      ...samples([5], 500),
      ...samples([5], 0),
      ...samples([5], 404),
      ...samples([5], 302),
    ],
  };

  it('counts the answers by class', () => {
    const s = summarize(run);
    expect(s).toMatchObject({ label: 'orders', sent: 10, ok: 4, shed: 2, errors5xx: 2, other: 2 });
  });

  it('takes throughput and latency from the 2xx answers only', () => {
    const s = summarize(run);
    expect(s.throughput).toBe(2);
    expect([s.p50, s.p95, s.p99]).toEqual([30, 40, 40]);
  });

  it('has no latency without a 2xx answer', () => {
    const s = summarize({ label: 'x', seconds: 1, samples: samples([1], 429) });
    expect(s.throughput).toBe(0);
    expect(s.p95).toBeNaN();
  });
});

describe('summaryTable', () => {
  it('writes one row per summary with rounded rates and latencies', () => {
    const s = summarize({ label: 'orders at 10/s', seconds: 4, samples: samples([12.4, 80.6, 99.5]) });
    expect(summaryTable([s])).toEqual([
      '| run | sent | ok | 429 | 5xx | ok/s | p50 ms | p95 ms | p99 ms |',
      '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
      '| orders at 10/s | 3 | 3 | 0 | 0 | 0.8 | 81 | 100 | 100 |',
    ]);
  });
});
