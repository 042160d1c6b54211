import { describe, expect, it } from 'vitest';
import { setImmediate as flush } from 'node:timers/promises';
import {
  addCounts,
  shares,
  startClosedLoop,
  summarize,
  summaryTable,
  timed,
  type Fire,
  type Sample,
} from './drivers.js';
import type { Answer } from './http.js';

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
    expect(s.statuses5xx).toEqual({ '500': 1, threw: 1 });
  });

  it('takes throughput and latency from the 2xx answers only', () => {
    const s = summarize(run);
    expect(s.throughput).toBe(2);
    expect([s.p50, s.p95, s.p99]).toEqual([30, 40, 40]);
  });

  it('counts the answers per api instance, whatever their status', () => {
    const s = summarize({
      label: 'x',
      seconds: 1,
      samples: [
        { ms: 1, status: 201, instance: 'api-1' },
        { ms: 1, status: 429, instance: 'api-1' },
        { ms: 1, status: 504, instance: 'nginx' },
        { ms: 1, status: 201, instance: 'api-2' },
        { ms: 1, status: 0 },
      ],
    });
    expect(s.byInstance).toEqual({ 'api-1': 2, 'api-2': 1, nginx: 1 });
    expect(s.okByInstance).toEqual({ 'api-1': 1, 'api-2': 1 });
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

  it('names the statuses of the 5xx answers', () => {
    const s = summarize({
      label: 'orders',
      seconds: 1,
      samples: [...samples([5]), ...samples([5, 5], 504), ...samples([5], 503), ...samples([5], 0)],
    });
    expect(summaryTable([s])[2]).toBe(
      '| orders | 5 | 1 | 0 | 4 (1 × 503, 2 × 504, 1 × threw) | 1.0 | 5 | 5 | 5 |',
    );
  });
});

describe('timed', () => {
  it("names the instance from X-Instance, and nginx for nginx's own answers", async () => {
    const answer = (status: number, headers: Record<string, string>) => () =>
      Promise.resolve({ status, headers, body: '' });
    expect((await timed(answer(201, { 'x-instance': 'api-3' }))).instance).toBe('api-3');
    expect((await timed(answer(504, { 'x-upstream-server': '127.0.0.1:3001' }))).instance).toBe('nginx');
    expect((await timed(answer(200, {}))).instance).toBeUndefined();
    expect((await timed(() => Promise.resolve(200))).instance).toBeUndefined();
  });
});

describe('addCounts and shares', () => {
  it('adds counts per key and turns them into percentages', () => {
    const total = addCounts([
      { 'api-1': 3, 'api-2': 1 },
      { 'api-2': 2, 'api-3': 4 },
    ]);
    expect(total).toEqual({ 'api-1': 3, 'api-2': 3, 'api-3': 4 });
    expect(shares(total)).toEqual({ 'api-1': 30, 'api-2': 30, 'api-3': 40 });
    expect(shares({})).toEqual({});
  });
});

describe('a closed loop measured while it runs', () => {
  /** Requests that answer when the test says so. */
  const controlled = () => {
    const waiting: ((answer: number | Answer) => void)[] = [];
    const fire: Fire = () => new Promise((resolve) => waiting.push(resolve));
    return { waiting, fire };
  };

  it('counts the answers that arrive in a window, its users going on before, through and after it', async () => {
    const { waiting, fire } = controlled();
    const loop = startClosedLoop(2, fire);
    expect(waiting).toHaveLength(2);
    waiting.shift()!(201); // before the window
    await flush();
    expect(waiting).toHaveLength(2); // that user sent its next request

    const window = loop.window('orders', 0.05);
    waiting.shift()!(201);
    waiting.shift()!(429);
    await flush();
    const run = await window;
    expect(run.label).toBe('orders');
    expect(run.seconds).toBeGreaterThanOrEqual(0.04);
    expect(run.samples.map((s) => s.status).sort()).toEqual([201, 429]);

    // Requests in flight at the window's start and end belong to the load, not to a drained crowd.
    expect(waiting).toHaveLength(1); // the 201's user went on; the 429's user waits out its Retry-After
    let stopped = false;
    const stopping = loop.stop().then(() => (stopped = true));
    await flush();
    expect(stopped).toBe(false); // waits for the request in flight
    waiting.shift()!(201);
    await stopping;
    expect(waiting).toHaveLength(0); // and sends nothing after it
  });

  it('grows its crowd, and a stop ends a Retry-After wait at once', async () => {
    const { waiting, fire } = controlled();
    const loop = startClosedLoop(1, fire);
    loop.growTo(3);
    expect(waiting).toHaveLength(3); // two added to the one running
    loop.growTo(2); // never shrinks
    expect(waiting).toHaveLength(3);
    for (const answer of waiting.splice(0))
      answer({ status: 429, headers: { 'retry-after': '60' }, body: '' });
    await flush();
    expect(waiting).toHaveLength(0); // all three wait a minute
    await loop.stop(); // without waiting it out
    expect(waiting).toHaveLength(0);
  });

  it('lets hundreds of users wait out a Retry-After at once without a listener warning', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      const { waiting, fire } = controlled();
      const loop = startClosedLoop(500, fire);
      for (const answer of waiting.splice(0))
        answer({ status: 429, headers: { 'retry-after': '60' }, body: '' });
      await flush();
      await loop.stop();
      await new Promise((r) => setImmediate(r)); // warnings are emitted on a later tick
      expect(warnings).not.toContain('MaxListenersExceededWarning');
    } finally {
      process.off('warning', onWarning);
    }
  });
});
