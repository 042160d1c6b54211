/**
 * Stress: a closed model ramping 0 -> 100 -> 300 -> 500 VUs, holding each step, each VU running the order
 * flow with 1 s think time. It shows where ACK latency leaves its SLO and whether the api degrades by
 * shedding (429 with Retry-After, counted in orders_shed) rather than failing (5xx, timeouts).
 *
 *   docker compose --profile load run --rm k6 run /scripts/stress.ts      (-e VUS=200 -e DURATION=5m)
 */
import { sleep } from 'k6';
import http from 'k6/http';
import type { Options } from 'k6/options';
import { orderFlow, type SetupData } from './lib/api.ts';
import { profileFor, usersFor } from './lib/env.ts';
import { THINK_SECONDS, thresholdsFor } from './lib/profiles.ts';
import { setupRun } from './lib/setup.ts';
import { summary, SUMMARY_TREND_STATS, type SummaryData } from './lib/summary.ts';

// Shedding is the designed answer to overload: a 429 is not a failed request here (orders_shed has its own SLO).
http.setResponseCallback(http.expectedStatuses({ min: 200, max: 399 }, 429));

export const options: Options = {
  scenarios: { stress: profileFor('stress') },
  thresholds: thresholdsFor('stress'),
  setupTimeout: '3m',
  summaryTrendStats: SUMMARY_TREND_STATS,
};

export function setup(): SetupData {
  return setupRun(usersFor('stress'));
}

export default function (data: SetupData): void {
  orderFlow(data, true);
  sleep(THINK_SECONDS);
}

export function handleSummary(data: SummaryData) {
  return summary('stress', data);
}
