import { describe, expect, it } from 'vitest';
import { budgetSection, cpuBudget } from './cpu-budget.js';

// The CPU table of a real run (docs/benchmarks/e2e.md, 2026-12-02 22:05): ms per accepted order.
const real = new Map([
  ['temporal', 49.2],
  ['baseline', 0.9],
  ['trading', 18.1],
  ['matching', 6.6],
  ['outbox', 5.3],
  ['api', 6.8],
  ['postgres', 10.6],
  ['redis', 0.5],
  ['mailpit', 1.7],
  ['load generator', 3.8],
]);
const noop = new Map([
  ['temporal', 47.8],
  ['baseline', 16.1],
  ['trading', 0.7],
  ['matching', 0.7],
  ['outbox', 0.7],
  ['api', 0.9],
  ['postgres', 0.7],
  ['redis', 0.2],
  ['mailpit', 0],
  ['load generator', 2.9],
]);

describe('cpuBudget', () => {
  it('allows the no-op saga’s CPU per order over the target share, and says what the real flow is over it', () => {
    const b = cpuBudget(real, noop, 0.8);
    expect(b.real).toBeCloseTo(103.5, 5);
    expect(b.noop).toBeCloseTo(70.7, 5);
    expect(b.allowed).toBeCloseTo(70.7 / 0.8, 5);
    expect(b.over).toBeCloseTo(103.5 - 70.7 / 0.8, 5);
  });

  it('splits what the real flow is over into the application against what is left to it and everything else', () => {
    const b = cpuBudget(real, noop, 0.8);
    expect(b.applicationAllowance).toBeCloseTo(70.7 / 0.8 - 70.7, 5);
    expect(b.elsewhere).toBeCloseTo(103.5 - 70.7 - 33.5, 5);
    expect(b.server).toBeCloseTo(49.2 - 47.8, 5);
    expect(b.applicationMs - b.applicationAllowance + b.elsewhere).toBeCloseTo(b.over, 5);
  });

  it('counts as the application every process the no-op saga does not run, and the trading worker beyond the baseline worker', () => {
    const b = cpuBudget(real, noop);
    expect(b.application.map((a) => a.component)).toEqual([
      'postgres',
      'api',
      'matching',
      'outbox',
      'trading worker beyond the no-op saga’s',
      'mailpit',
      'redis',
    ]);
    expect(b.application.find((a) => a.component.startsWith('trading'))?.ms).toBeCloseTo(2.0, 5);
    expect(b.applicationMs).toBeCloseTo(33.5, 5);
    expect(b.applicationShare).toBeCloseTo(33.5 / 70.7, 5);
  });

  it('leaves Temporal’s own Postgres out of the application on the cluster, and never counts a negative worker share', () => {
    const b = cpuBudget(
      new Map([
        ['postgres: temporal', 40],
        ['trading', 5],
        ['nginx', 3],
      ]),
      new Map([['baseline', 9]]),
    );
    expect(b.application).toEqual([
      { component: 'nginx', ms: 3 },
      { component: 'trading worker beyond the no-op saga’s', ms: 0 },
    ]);
    expect(b.server).toBe(40);
  });
});

describe('budgetSection', () => {
  it('states the excess, the share against the "before" run and a row per component', () => {
    const text = budgetSection(cpuBudget(real, noop), 0.8, { share: 0.63, run: '2026-11-30' }).join('\n');
    expect(text).toContain(
      'allows 88.4 ms per order: the real flow is **15.1 ms over** it, 45% of the application',
    );
    expect(text).toContain('0.47 of the no-op saga');
    expect(text).toContain('25% under it');
    expect(text).toContain('| postgres | 10.6 | 32% |');
    expect(text).toContain(
      'that would leave the application 17.7 ms per order; it took 33.5 ms, **15.8 ms over**. Everything else took −0.7 ms per order',
    );
    expect(text).toContain("Temporal's server +1.4 ms: the server runs the same saga for both flows");
  });

  it('says when the budget is kept', () => {
    const text = budgetSection(cpuBudget(new Map([['api', 1]]), new Map([['baseline', 10]])), 0.8).join('\n');
    expect(text).toContain('the real flow is 11.5 ms under it.');
    expect(text).toContain(
      'that would leave the application 2.5 ms per order; it took 1.0 ms, 1.5 ms under.',
    );
    expect(text).not.toContain('"before"');
  });

  it('prints a difference that rounds to nothing as +0.0, not −0.0', () => {
    const b = cpuBudget(
      new Map([
        ['temporal', 9.98],
        ['api', 1],
      ]),
      new Map([
        ['temporal', 10],
        ['baseline', 1],
      ]),
      0.8,
    );
    const text = budgetSection(b, 0.8).join('\n');
    expect(text).toContain("Temporal's server +0.0 ms");
    expect(text).not.toContain('−0.0');
  });
});
