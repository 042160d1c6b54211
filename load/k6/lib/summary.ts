/**
 * handleSummary for every script: the SLOs as PASS/FAIL lines (the same text the Node generator prints)
 * plus a few headline numbers on stdout, and k6's whole summary as JSON in SUMMARY_DIR/k6-<scenario>.json.
 * k6 itself still exits non-zero (99) when a threshold fails.
 */
import { SUMMARY_DIR } from './env.ts';
import {
  formatNumber,
  formatPercent,
  formatThresholds,
  METRICS,
  parseExpression,
  type ThresholdResult,
} from './profiles.ts';

interface SummaryMetric {
  type: 'counter' | 'gauge' | 'rate' | 'trend';
  values: Record<string, number>;
  thresholds?: Record<string, { ok: boolean }>;
}

/** The part of k6's summary data this module reads. */
export interface SummaryData {
  metrics: Record<string, SummaryMetric>;
  state?: { testRunDurationMs?: number };
}

/** Trend statistics kept in the summary (p(99) is not in k6's default list). */
export const SUMMARY_TREND_STATS = ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)', 'count'];

function headline(data: SummaryData): string[] {
  const m = data.metrics;
  const lines: string[] = [];
  const seconds = (data.state?.testRunDurationMs ?? 0) / 1000;
  const iterations = m.iterations?.values.count ?? 0;
  const requests = m.http_reqs?.values.count ?? 0;
  lines.push(
    `run ${formatNumber(seconds)} s: ${iterations} iterations (${formatNumber(m.iterations?.values.rate ?? 0)}/s), ` +
      `${requests} requests, ${formatPercent(m.http_req_failed?.values.rate ?? 0)} failed`,
  );
  for (const [name, metric] of Object.entries(m)) {
    if (metric.type !== 'trend' || !name.includes('{')) continue;
    const v = metric.values;
    lines.push(
      `  ${name}: n=${v.count ?? '?'} p50=${formatNumber(v.med ?? 0)} p95=${formatNumber(v['p(95)'] ?? 0)} ` +
        `p99=${formatNumber(v['p(99)'] ?? 0)} max=${formatNumber(v.max ?? 0)} ms`,
    );
  }
  const shares = Object.entries(m).filter(([name]) => name.startsWith(`${METRICS.instanceShare}{`));
  if (shares.length > 0)
    lines.push(
      `  instances: ${shares.map(([name, s]) => `${name.slice(name.indexOf(':') + 1, -1)} ${formatPercent(s.values.rate ?? 0)}`).join(', ')}`,
    );
  return lines;
}

export function thresholdResults(data: SummaryData): ThresholdResult[] {
  const out: ThresholdResult[] = [];
  for (const [metric, m] of Object.entries(data.metrics)) {
    for (const [expression, t] of Object.entries(m.thresholds ?? {})) {
      const { agg } = parseExpression(expression);
      out.push({ metric, expression, ok: t.ok, actual: m.values[agg] });
    }
  }
  return out;
}

/** `export function handleSummary(data) { return summary('load', data); }` */
export function summary(scenario: string, data: SummaryData): Record<string, string> {
  const text = [`k6 ${scenario}`, ...headline(data), formatThresholds(scenario, thresholdResults(data))].join(
    '\n',
  );
  return {
    stdout: `\n${text}\n`,
    [`${SUMMARY_DIR}/k6-${scenario}.json`]: JSON.stringify({ tool: 'k6', scenario, ...data }, null, 2),
  };
}
