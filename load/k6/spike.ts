/**
 * Spike: an open model at 5 order flows/s that jumps to 100/s within 10 s, holds a minute and falls back.
 * Does the api absorb the burst (queueing, shedding with 429) and recover its latency afterwards?
 *
 *   docker compose --profile load run --rm k6 run /scripts/spike.ts       (-e RATE=50 scales the peak)
 */
import http from 'k6/http';
import type { Options } from 'k6/options';
import { orderFlow, type SetupData } from './lib/api.ts';
import { profileFor, usersFor } from './lib/env.ts';
import { thresholdsFor } from './lib/profiles.ts';
import { setupRun } from './lib/setup.ts';
import { summary, SUMMARY_TREND_STATS, type SummaryData } from './lib/summary.ts';

// A 429 is load shedding, not a failure; it counts in orders_shed.
http.setResponseCallback(http.expectedStatuses({ min: 200, max: 399 }, 429));

export const options: Options = {
  scenarios: { spike: profileFor('spike') },
  thresholds: thresholdsFor('spike'),
  setupTimeout: '3m',
  summaryTrendStats: SUMMARY_TREND_STATS,
};

export function setup(): SetupData {
  return setupRun(usersFor('spike'));
}

export default function (data: SetupData): void {
  orderFlow(data, true);
}

export function handleSummary(data: SummaryData) {
  return summary('spike', data);
}
