/**
 * Feed subscribers for the Node generator (the k6 side is load/k6/ws.ts): each one opens /ws with its
 * session's token, waits for `welcome`, subscribes to its account's executions and one symbol's quotes,
 * listens for a session's length, closes and starts over until the run ends. Records the connect time
 * (until `welcome`), the subscribe round trip and how late account events arrive (their `ts` to now).
 */
import WebSocket from 'ws';
import type { Session } from '../client.js';
import { METRICS, SYMBOLS } from '../k6/lib/profiles.js';
import type { Metrics } from './metrics.js';

export interface FeedOptions {
  url: string;
  sessions: Session[];
  subscribers: number;
  seconds: number;
  sessionSeconds: number;
  metrics: Metrics;
  log: (line: string) => void;
}

interface Frame {
  type?: string;
  id?: number | string;
  ts?: string;
  message?: string;
}

export const feedCounts = { frames: 0, events: 0, errors: 0 };

const textOf = (data: WebSocket.RawData): string =>
  (Array.isArray(data)
    ? Buffer.concat(data)
    : Buffer.isBuffer(data)
      ? data
      : Buffer.from(new Uint8Array(data))
  ).toString('utf8');

function oneSession(o: FeedOptions, session: Session, symbol: string, seconds: number): Promise<void> {
  return new Promise((resolve) => {
    const opened = performance.now();
    let subscribedAt = 0;
    let welcomed = false;
    let subscribed = false;
    const ws = new WebSocket(o.url, { headers: { authorization: `Bearer ${session.token}` } });
    const timer = setTimeout(() => ws.close(1000), seconds * 1000);
    const finish = () => {
      clearTimeout(timer);
      o.metrics.rate(METRICS.feedSessionOk, welcomed && subscribed);
      resolve();
    };
    ws.on('message', (data: WebSocket.RawData) => {
      feedCounts.frames++;
      const text = textOf(data);
      let frame: Frame;
      try {
        frame = JSON.parse(text) as Frame;
      } catch {
        return;
      }
      switch (frame.type) {
        case 'welcome':
          welcomed = true;
          o.metrics.trend(METRICS.feedConnect, performance.now() - opened);
          subscribedAt = performance.now();
          ws.send(JSON.stringify({ op: 'subscribe', id: 1, channel: 'executions' }));
          ws.send(JSON.stringify({ op: 'subscribe', id: 2, channel: 'quotes', symbol }));
          break;
        case 'subscribed':
          if (frame.id === 1) {
            subscribed = true;
            o.metrics.trend(METRICS.feedSubscribe, performance.now() - subscribedAt);
          }
          break;
        case 'execution':
        case 'order_accepted':
        case 'account_event':
          feedCounts.events++;
          if (typeof frame.ts === 'string')
            o.metrics.trend(METRICS.feedDelivery, Math.max(0, Date.now() - Date.parse(frame.ts)));
          break;
        case 'error':
          feedCounts.errors++;
          o.log(`feed error frame: ${text}`);
          break;
      }
    });
    ws.on('unexpected-response', (_req, res) => {
      o.log(`feed upgrade refused: HTTP ${res.statusCode}`);
      ws.terminate();
    });
    ws.on('error', (err) => {
      feedCounts.errors++;
      o.log(`feed socket error: ${err.message}`);
    });
    ws.on('close', finish);
  });
}

/** `subscribers` concurrent subscribers for `seconds`; sessions go round-robin over the accounts. */
export async function runSubscribers(o: FeedOptions): Promise<void> {
  const end = performance.now() + o.seconds * 1000;
  const subscriber = async (k: number) => {
    const session = o.sessions[k % o.sessions.length];
    if (!session) throw new Error('no sessions');
    const symbol = SYMBOLS[(k + 1) % SYMBOLS.length] ?? 'AAPL';
    for (;;) {
      const left = (end - performance.now()) / 1000;
      if (left < 1) return;
      await oneSession(o, session, symbol, Math.min(o.sessionSeconds, left));
    }
  };
  await Promise.all(Array.from({ length: o.subscribers }, (_, k) => subscriber(k)));
}
