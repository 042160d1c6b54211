import { describe, expect, it } from 'vitest';
import { CpuAccount } from './cpu.js';
import type { Run } from './drivers.js';
import { interleaved, poolRuns, roundRatios, weightedMean } from './segments.js';

describe('pooling the segments of a run', () => {
  it('averages per-request figures weighted by accepted requests, through maps and records', () => {
    const a = new Map([['api', { statements: 2, mails: 1 }]]);
    const b = new Map([
      ['api', { statements: 5, mails: 1 }],
      ['relay', { statements: 3, mails: 0 }],
    ]);
    expect(
      weightedMean([
        { value: a, weight: 1 },
        { value: b, weight: 2 },
      ]),
    ).toEqual(
      new Map([
        ['api', { statements: 4, mails: 1 }],
        ['relay', { statements: 2, mails: 0 }], // absent from a segment: nothing there
      ]),
    );
  });

  it("is one run's figure over all segments: totals added, divided by all accepted requests", () => {
    // 30 ms over 10 orders, then 90 ms over 20: 120 ms over 30 orders.
    const runs = [
      { label: 'x', ok: 10, perRequest: new Map([['api', 3]]) },
      { label: 'other', ok: 5, perRequest: new Map([['api', 1]]) },
      { label: 'x', ok: 20, perRequest: new Map([['api', 4.5]]) },
    ];
    poolRuns(runs, 'x');
    expect(runs).toEqual([
      { label: 'x', ok: 30, perRequest: new Map([['api', 4]]) },
      { label: 'other', ok: 5, perRequest: new Map([['api', 1]]) },
    ]);
  });
});

describe('interleaved runs', () => {
  it('take turns round by round, every other round reversed, each prepared before and finished after every segment, and pool samples and meters', async () => {
    const order: string[] = [];
    let cpu = 0;
    const account = new CpuAccount(() => {
      order.push('read');
      return new Map([['api#1', (cpu += 100)]]);
    });
    const run = (label: string, ok: number) => ({
      label,
      prepare: async () => void order.push(`warm ${label}`),
      segment: async (): Promise<Run> => {
        order.push(label);
        return { label, seconds: 2, samples: Array.from({ length: ok }, () => ({ ms: 5, status: 201 })) };
      },
      finish: async () => void order.push(`stop ${label}`),
      meters: [account],
    });
    const [a, b] = await interleaved(2, [run('A', 4), run('B', 1)]);
    // The meters are read around the segment alone: not its warm-up, not the stop of its load.
    const turn = (label: string) => [`warm ${label}`, 'read', label, 'read', `stop ${label}`];
    expect(order).toEqual([...turn('A'), ...turn('B'), ...turn('B'), ...turn('A')]);
    expect(a).toMatchObject({ label: 'A', sent: 8, ok: 8, throughput: 2, rounds: [2, 2] });
    expect(b).toMatchObject({ label: 'B', sent: 2, ok: 2, throughput: 0.5, rounds: [0.5, 0.5] });
    expect(roundRatios(b!, a!)).toBe('25%, 25%');
    // Each segment read 100 ticks (1 s of CPU): A 2 s over 8 orders, B 2 s over 2.
    expect(account.runs.map((r) => [r.label, r.ok, r.perRequest.get('api')])).toEqual([
      ['A', 8, 250],
      ['B', 2, 1000],
    ]);
  });
});
