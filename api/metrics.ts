/** The api's Prometheus registry: one per process. */
import { Counter, Gauge, Histogram } from 'prom-client';
import type { Logger } from '../lib/logger.js';
import { processRegistry } from '../lib/metrics-server.js';
import type { SessionCalendar } from '../lib/sessions.js';
import { timed } from './dependencies.js';

export function createApiMetrics(instance: string) {
  const registry = processRegistry('api', instance);
  return {
    registry,
    httpRequests: new Counter({
      name: 'http_requests_total',
      help: 'HTTP requests by method, route and status',
      labelNames: ['method', 'route', 'status'] as const,
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request latency by method and route',
      labelNames: ['method', 'route'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    orderAck: new Histogram({
      name: 'order_ack_seconds',
      help: 'Time from POST /orders to the saga ACK, by outcome',
      labelNames: ['outcome'] as const,
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    ordersPlaced: new Counter({
      name: 'orders_placed_total',
      help: 'Orders answered by POST /orders, by result',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    inflightOrders: new Gauge({
      name: 'orders_inflight',
      help: 'Order sagas the api is waiting on (admission control)',
      registers: [registry],
    }),
    dependencyUp: new Gauge({
      name: 'dependency_up',
      help: '1 if the dependency answered the last readiness check',
      labelNames: ['dependency'] as const,
      registers: [registry],
    }),
    // ---- live feed (/ws) ----
    wsConnections: new Gauge({ name: 'ws_connections', help: 'Open feed WebSockets', registers: [registry] }),
    wsUpgrades: new Counter({
      name: 'ws_upgrades_total',
      help: 'Feed upgrade requests by HTTP outcome (101, or the refusal status)',
      labelNames: ['status'] as const,
      registers: [registry],
    }),
    wsFramesSent: new Counter({
      name: 'ws_frames_sent_total',
      help: 'Feed frames sent, by frame type',
      labelNames: ['type'] as const,
      registers: [registry],
    }),
    wsMessagesReceived: new Counter({
      name: 'ws_messages_received_total',
      help: 'Client messages received on feed sockets',
      registers: [registry],
    }),
    wsDisconnects: new Counter({
      name: 'ws_disconnects_total',
      help: 'Feed sockets closed, by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    wsDelivery: new Histogram({
      name: 'ws_delivery_seconds',
      help: 'Time from the event timestamp to the frame handed to the socket',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    wsResyncs: new Counter({
      name: 'ws_resyncs_total',
      help: 'Account streams read from Postgres after subscribe, by cause (resume, gap, sweep, redis_reconnect)',
      labelNames: ['cause'] as const,
      registers: [registry],
    }),
    wsDuplicatesDropped: new Counter({
      name: 'ws_duplicates_dropped_total',
      help: 'Account events not sent because the socket already had that seq (at-least-once relay, replay overlap)',
      registers: [registry],
    }),
  };
}
export type ApiMetrics = ReturnType<typeof createApiMetrics>;

/**
 * `kill_switch_engaged{scope}`: 1 per engaged kill switch ('*' or a symbol), read from Postgres at each
 * scrape (every api instance reports the same truth; the KillSwitchEngaged alert takes the max).
 * A read that fails or takes longer than `timeoutMs` (a hung Postgres, a lock; as long as the dependency
 * checks wait, well under the 5 s scrape timeout) keeps the last values (logged once until a read succeeds
 * again): the scrape still answers, with `dependency_up{dependency="postgres"} 0` that ApiDependencyDown
 * alerts on, instead of failing as ApiDown.
 */
export function watchKillSwitches(
  metrics: ApiMetrics,
  read: () => Promise<{ scope: string }[]>,
  logger: Logger,
  timeoutMs = 2000,
): void {
  let failing = false;
  // One read at a time: a read the limit gave up on may still hold a connection, and a scrape every 5 s
  // starting another would drain the api's pool while Postgres hangs. The next scrapes wait on it.
  let reading: Promise<{ scope: string }[]> | undefined;
  new Gauge({
    name: 'kill_switch_engaged',
    help: '1 while the kill switch of the scope (* = the whole market, or a symbol) is engaged',
    labelNames: ['scope'] as const,
    registers: [metrics.registry],
    async collect() {
      let engaged: { scope: string }[] = [];
      const pending = (reading ??= read().finally(() => (reading = undefined)));
      const { ok, error } = await timed(async () => {
        engaged = await pending;
      }, timeoutMs);
      if (!ok) {
        if (!failing) logger.warn('kill switches not read', { error });
        failing = true;
        return;
      }
      failing = false;
      this.reset();
      for (const { scope } of engaged) this.set({ scope }, 1);
    },
  });
}

/**
 * `trading_calendar_days_left`: days until the trading calendar's data ends (the close of its last
 * session, lib/sessions.ts), at each scrape; past it every placement, a replace to DAY and the clock
 * answer 503 calendar_unavailable (api/calendar.ts). The TradingCalendarEnding alert fires under 60
 * days. A calendar without an end (TRADING_CALENDAR=24h) exports nothing.
 */
export function watchCalendar(metrics: ApiMetrics, calendar: SessionCalendar, now: () => Date): void {
  const ends = calendar.dataEnds;
  if (!ends) return;
  new Gauge({
    name: 'trading_calendar_days_left',
    help: "Days until the trading calendar's data ends (the close of its last session); negative past it",
    registers: [metrics.registry],
    collect() {
      this.set((ends.getTime() - now().getTime()) / 86_400_000);
    },
  });
}
