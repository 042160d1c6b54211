/**
 * The Node generator's metrics, kept the way k6 keeps them so that the same threshold strings apply:
 * trends (percentiles by linear interpolation, as k6 computes them), rates (share of true samples) and
 * counters, each also kept per tag as a submetric named `metric{tag:value}`.
 */
import { compare, parseExpression, type Thresholds, type ThresholdResult } from '../k6/lib/profiles.js';
import { interpolated as percentile } from '../lib/percentiles.js';

export type Tags = Record<string, string>;

interface RateSink {
  trues: number;
  total: number;
}

export interface MetricSummary {
  type: 'trend' | 'rate' | 'counter';
  values: Record<string, number>;
  thresholds?: Record<string, { ok: boolean }>;
}

const keysOf = (name: string, tags: Tags | undefined): string[] => [
  name,
  ...Object.entries(tags ?? {}).map(([k, v]) => `${name}{${k}:${v}}`),
];

export class Metrics {
  private readonly trends = new Map<string, number[]>();
  private readonly rates = new Map<string, RateSink>();
  private readonly counters = new Map<string, number>();
  private readonly startedAt = performance.now();

  trend(name: string, value: number, tags?: Tags): void {
    for (const key of keysOf(name, tags)) {
      let sink = this.trends.get(key);
      if (!sink) this.trends.set(key, (sink = []));
      sink.push(value);
    }
  }

  rate(name: string, value: boolean, tags?: Tags): void {
    for (const key of keysOf(name, tags)) {
      let sink = this.rates.get(key);
      if (!sink) this.rates.set(key, (sink = { trues: 0, total: 0 }));
      sink.total++;
      if (value) sink.trues++;
    }
  }

  count(name: string, n = 1, tags?: Tags): void {
    for (const key of keysOf(name, tags)) this.counters.set(key, (this.counters.get(key) ?? 0) + n);
  }

  /** A k6-style check: counted in `checks`, per check name too. */
  check(name: string, ok: boolean): boolean {
    this.rate('checks', ok, { check: name });
    return ok;
  }

  counter(name: string): number {
    return this.counters.get(name) ?? 0;
  }

  /** The values of one metric as k6's summary names them (`p(95)`, `rate`, `count`, ...). */
  values(key: string): MetricSummary | undefined {
    const trend = this.trends.get(key);
    if (trend) {
      const sorted = [...trend].sort((a, b) => a - b);
      const sum = sorted.reduce((a, b) => a + b, 0);
      return {
        type: 'trend',
        values: {
          avg: sorted.length ? sum / sorted.length : 0,
          min: sorted[0] ?? 0,
          med: percentile(sorted, 50),
          max: sorted[sorted.length - 1] ?? 0,
          'p(90)': percentile(sorted, 90),
          'p(95)': percentile(sorted, 95),
          'p(99)': percentile(sorted, 99),
          count: sorted.length,
        },
      };
    }
    const rate = this.rates.get(key);
    if (rate)
      return {
        type: 'rate',
        values: {
          rate: rate.total ? rate.trues / rate.total : 0,
          passes: rate.trues,
          fails: rate.total - rate.trues,
        },
      };
    const count = this.counters.get(key);
    if (count !== undefined) {
      const seconds = (performance.now() - this.startedAt) / 1000;
      return { type: 'counter', values: { count, rate: seconds > 0 ? count / seconds : 0 } };
    }
    return undefined;
  }

  /** A trend's percentile (`pct` in 0-100), 0 without samples. */
  p(key: string, pct: number): number {
    const trend = this.trends.get(key);
    return trend
      ? percentile(
          [...trend].sort((a, b) => a - b),
          pct,
        )
      : 0;
  }

  /**
   * Judge the thresholds. A metric without samples fails its thresholds: a route that never answered
   * has not met its SLO (k6 would judge it on zeros).
   */
  evaluate(thresholds: Thresholds): ThresholdResult[] {
    const out: ThresholdResult[] = [];
    for (const [metric, expressions] of Object.entries(thresholds)) {
      const summary = this.values(metric);
      const samples =
        summary === undefined
          ? 0
          : summary.type === 'rate'
            ? (summary.values.passes ?? 0) + (summary.values.fails ?? 0)
            : (summary.values.count ?? 0);
      for (const expression of expressions) {
        const { agg, op, value } = parseExpression(expression);
        const actual = summary?.values[agg];
        out.push({
          metric,
          expression,
          ok: actual !== undefined && samples > 0 && compare(actual, op, value),
          actual,
        });
      }
    }
    return out;
  }

  /** Every metric, k6 summary style, with the judged thresholds attached. */
  summary(results: readonly ThresholdResult[]): Record<string, MetricSummary> {
    const out: Record<string, MetricSummary> = {};
    const keys = [...this.trends.keys(), ...this.rates.keys(), ...this.counters.keys()].sort();
    for (const key of keys) {
      const s = this.values(key);
      if (s) out[key] = s;
    }
    for (const r of results) {
      const m = (out[r.metric] ??= { type: 'trend', values: {} });
      (m.thresholds ??= {})[r.expression] = { ok: r.ok };
    }
    return out;
  }
}
