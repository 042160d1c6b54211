/**
 * Every metric a Grafana dashboard panel queries is served by a live BrokerX process's /metrics: the
 * api (its HTTP /metrics), and the trading worker, matching shard and outbox relay (their registry, as
 * their /metrics serves it), after a little real traffic. Compose-only exporters (nginx), Temporal's
 * own metrics (the server's and the SDK's) and Prometheus' `up` are not ours and are left out.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { dashboardExprs, metricNames } from './dashboards.js';
import { startTradingFixture, type TradingFixture } from './trading.js';
import { createFundedUser } from './users.js';

let fx: TradingFixture;
beforeAll(async () => {
  fx = await startTradingFixture('dashboards');
}, 120_000);
afterAll(async () => fx?.close());

/** Metric names in Prometheus text, histograms expanded to their series. */
function served(text: string): Set<string> {
  const names = new Set<string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [, name, type] = m as unknown as [string, string, string];
    names.add(name);
    if (type === 'histogram' || type === 'summary')
      for (const s of ['_bucket', '_sum', '_count']) names.add(name + s);
  }
  return names;
}

it("every dashboard panel's metric is served by some process", async () => {
  const u = await createFundedUser(fx.api, '1000.00');
  const res = await fx.api.call('POST', '/api/v1/orders', {
    token: u.token,
    body: {
      order: {
        symbol: 'AAPL',
        order_type: 'limit',
        direction: 'buy',
        quantity: 1,
        price: 160,
        time_in_force: 'GTC',
      },
    },
  });
  expect(res.status).toBe(201);
  const api = await (await fetch(`${fx.api.metricsUrl}/metrics`)).text();
  const workers = await fx.stack.registry.metrics();
  const live = new Set([...served(api), ...served(workers)]);
  const wanted = [...new Set(dashboardExprs().flatMap(metricNames))].filter(
    (n) => n !== 'up' && !n.startsWith('nginx_') && !n.startsWith('temporal_'),
  );
  expect(wanted.length).toBeGreaterThan(20);
  expect(wanted.filter((n) => !live.has(n))).toEqual([]);
});
