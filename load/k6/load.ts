/**
 * Load: sustained order flow at a constant arrival rate (profiles.ts: 20 flows/s for 5 minutes). A flow
 * places a buy limit below the market (the saga's ACK once the matching engine accepted it) and cancels
 * it. SLOs: under 1 % failed requests, ACK and cancel p95 < 500 ms and p99 < 1 s.
 *
 *   docker compose --profile load run --rm k6 run /scripts/load.ts        (-e RATE=40 -e DURATION=10m)
 */
import type { Options } from 'k6/options';
import { orderFlow, type SetupData } from './lib/api.ts';
import { profileFor, usersFor } from './lib/env.ts';
import { thresholdsFor } from './lib/profiles.ts';
import { setupRun } from './lib/setup.ts';
import { summary, SUMMARY_TREND_STATS, type SummaryData } from './lib/summary.ts';

export const options: Options = {
  scenarios: { load: profileFor('load') },
  thresholds: thresholdsFor('load'),
  setupTimeout: '3m',
  summaryTrendStats: SUMMARY_TREND_STATS,
};

export function setup(): SetupData {
  return setupRun(usersFor('load'));
}

export default function (data: SetupData): void {
  orderFlow(data, false);
}

export function handleSummary(data: SummaryData) {
  return summary('load', data);
}
