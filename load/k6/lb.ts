/**
 * Load balancer: authenticated reads (GET /api/v1/portfolio) at a constant rate through nginx, counting
 * which api instance answered each one (the X-Instance header). SLO: every expected instance (INSTANCES,
 * default api-1,api-2,api-3) answers 25-40 % of the requests; reads stay fast and do not fail.
 *
 *   docker compose --profile load run --rm k6 run /scripts/lb.ts
 */
import { check } from 'k6';
import exec from 'k6/execution';
import http from 'k6/http';
import { Rate } from 'k6/metrics';
import type { Options } from 'k6/options';
import { authHeaders, field, sessionFor, type SetupData } from './lib/api.ts';
import { BASE_URL, INSTANCES, profileFor, usersFor } from './lib/env.ts';
import { METRICS, ROUTES, thresholdsFor } from './lib/profiles.ts';
import { setupRun } from './lib/setup.ts';
import { summary, SUMMARY_TREND_STATS, type SummaryData } from './lib/summary.ts';

/** Per response, one sample per expected instance: true for the one that answered. */
const share = new Rate(METRICS.instanceShare);

export const options: Options = {
  scenarios: { lb: profileFor('lb') },
  thresholds: thresholdsFor('lb', INSTANCES),
  setupTimeout: '3m',
  summaryTrendStats: SUMMARY_TREND_STATS,
};

export function setup(): SetupData {
  return setupRun(usersFor('lb'));
}

export default function (data: SetupData): void {
  const session = sessionFor(data, exec.scenario.iterationInTest);
  const res = http.get(`${BASE_URL}/api/v1/portfolio`, {
    headers: authHeaders(session),
    tags: { name: ROUTES.portfolio },
  });
  check(res, { 'portfolio 200': (r) => r.status === 200 && field(r, 'account_id') === session.accountId });
  const instance = res.headers['X-Instance'] ?? '';
  check(instance, { 'X-Instance is an expected instance': (i) => INSTANCES.includes(i) });
  for (const id of INSTANCES) share.add(instance === id, { instance: id });
}

export function handleSummary(data: SummaryData) {
  return summary('lb', data);
}
