/**
 * Live feed: subscribers hold /ws sessions (WS_SESSION_SECONDS each, then reconnect) subscribed to their
 * account's execution reports and one symbol's quotes, while a second scenario places and cancels orders
 * at a constant rate so that execution reports flow. Measures the connect time (until `welcome`), the
 * subscribe round trip and the delivery delay of account events (their `ts` until the frame arrives).
 * Protocol: api/ws/protocol.ts (`{"op":"subscribe","channel":"executions"}`).
 *
 *   docker compose --profile load run --rm k6 run /scripts/ws.ts          (-e VUS=200 subscribers)
 */
import exec from 'k6/execution';
import { Rate, Trend } from 'k6/metrics';
import type { Options } from 'k6/options';
import { setTimeout } from 'k6/timers';
import { WebSocket } from 'k6/websockets';
import { orderFlow, sessionFor, type SetupData } from './lib/api.ts';
import { overrides, usersFor, WS_URL } from './lib/env.ts';
import {
  applyOverrides,
  durationOf,
  METRICS,
  PROFILES,
  profileSeconds,
  SYMBOLS,
  thresholdsFor,
  WS_ORDER_PROFILE,
  WS_SESSION_SECONDS,
} from './lib/profiles.ts';
import { setupRun } from './lib/setup.ts';
import { summary, SUMMARY_TREND_STATS, type SummaryData } from './lib/summary.ts';

const connectMs = new Trend(METRICS.feedConnect, true);
const subscribeMs = new Trend(METRICS.feedSubscribe, true);
const deliveryMs = new Trend(METRICS.feedDelivery, true);
const sessionOk = new Rate(METRICS.feedSessionOk);

const o = overrides();
const subscribers = applyOverrides(PROFILES.ws, { duration: o.duration, vus: o.vus });
const orderProfile = applyOverrides(WS_ORDER_PROFILE, { duration: o.duration, rate: o.rate });
const sessionSeconds = Math.min(WS_SESSION_SECONDS, profileSeconds(subscribers));

export const options: Options = {
  scenarios: {
    subscribers: { ...subscribers, exec: 'default', gracefulStop: durationOf(sessionSeconds + 5) },
    orders: { ...orderProfile, exec: 'orders' },
  },
  thresholds: thresholdsFor('ws'),
  setupTimeout: '3m',
  summaryTrendStats: SUMMARY_TREND_STATS,
};

export function setup(): SetupData {
  return setupRun(usersFor('ws'));
}

interface Frame {
  type?: string;
  id?: number | string;
  seq?: number;
  ts?: string;
}

/** One feed session of one subscriber (the iteration ends when the socket closes). */
export default function (data: SetupData): void {
  const vu = exec.vu.idInTest;
  const session = sessionFor(data, vu - 1);
  const symbol = SYMBOLS[vu % SYMBOLS.length] ?? 'AAPL';
  const opened = Date.now();
  let subscribedAt = 0;
  let welcomed = false;
  let subscribed = false;

  const ws = new WebSocket(WS_URL, null, {
    headers: { authorization: `Bearer ${session.token}` },
    tags: { name: 'WS /ws' },
  });
  ws.onmessage = (event) => {
    if (typeof event?.data !== 'string') return;
    const frame = JSON.parse(event.data) as Frame;
    switch (frame.type) {
      case 'welcome':
        welcomed = true;
        connectMs.add(Date.now() - opened);
        subscribedAt = Date.now();
        ws.send(JSON.stringify({ op: 'subscribe', id: 1, channel: 'executions' }));
        ws.send(JSON.stringify({ op: 'subscribe', id: 2, channel: 'quotes', symbol }));
        break;
      case 'subscribed':
        if (frame.id === 1) {
          subscribed = true;
          subscribeMs.add(Date.now() - subscribedAt);
        }
        break;
      case 'execution':
      case 'order_accepted':
      case 'account_event':
        if (typeof frame.ts === 'string') deliveryMs.add(Math.max(0, Date.now() - Date.parse(frame.ts)));
        break;
      case 'error':
        console.warn(`feed error frame: ${event.data}`);
        break;
    }
  };
  ws.onerror = (event) => console.warn(`feed socket error: ${event?.error ?? 'unknown'}`);
  ws.onclose = () => sessionOk.add(welcomed && subscribed);
  setTimeout(() => ws.close(), sessionSeconds * 1000);
}

/** The order flow that makes execution reports. */
export function orders(data: SetupData): void {
  orderFlow(data, false);
}

export function handleSummary(data: SummaryData) {
  return summary('ws', data);
}
