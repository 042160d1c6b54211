/**
 * Smoke: one user walks every route a client uses (health, market data, portfolio, place, read, replace
 * and cancel an order) a few times. Run it first: if this fails, the other scenarios measure nothing.
 *
 *   docker compose --profile load run --rm k6 run /scripts/smoke.ts
 */
import type { Options } from 'k6/options';
import { smokeFlow, type SetupData } from './lib/api.ts';
import { profileFor, usersFor } from './lib/env.ts';
import { thresholdsFor } from './lib/profiles.ts';
import { setupRun } from './lib/setup.ts';
import { summary, SUMMARY_TREND_STATS, type SummaryData } from './lib/summary.ts';

export const options: Options = {
  scenarios: { smoke: profileFor('smoke') },
  thresholds: thresholdsFor('smoke'),
  setupTimeout: '3m',
  summaryTrendStats: SUMMARY_TREND_STATS,
};

export function setup(): SetupData {
  return setupRun(usersFor('smoke'));
}

export default function (data: SetupData): void {
  smokeFlow(data);
}

export function handleSummary(data: SummaryData) {
  return summary('smoke', data);
}
