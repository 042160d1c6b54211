/**
 * `/cable`'s MarketChannel over a real socket, with Redis and Postgres faked: what a test cannot arrange
 * on the real stack (one symbol's SUBSCRIBE failing, a live update landing while the snapshot is read).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createLogger } from '../../lib/logger.js';
import { marketChannel } from '../../lib/redis-keys.js';
import type { VerifiedAccessToken } from '../auth/tokens.js';
import { createCableServer, type CableServer } from './cable.js';
import type { MarketUpdate } from './frames.js';
import type { FeedHistory } from './history.js';
import type { FeedHub, HubListener } from './hub.js';
import { REVOCATION_RETRY } from './revocations.js';

const PREFIX = 'test:';
const T0 = Date.parse('2026-01-01T10:00:00.000Z');

/** A hub whose SUBSCRIBE fails for the channels in `failing`; `listening` counts live listeners. */
function fakeHub(failing: string[] = []) {
  const listeners = new Map<string, Set<HubListener>>();
  const hub: FeedHub = {
    async subscribe(channel, listener) {
      await new Promise((r) => setTimeout(r, 5));
      if (failing.includes(channel)) throw new Error(`SUBSCRIBE ${channel} failed`);
      let set = listeners.get(channel);
      if (!set) listeners.set(channel, (set = new Set()));
      set.add(listener);
      return () => set.delete(listener);
    },
    onResync: () => () => {},
    channelCount: () => [...listeners.values()].filter((s) => s.size > 0).length,
    close: async () => {},
  };
  const publish = (channel: string, event: unknown) => {
    for (const l of listeners.get(channel) ?? []) l(event);
  };
  const listening = () => [...listeners.values()].reduce((n, s) => n + s.size, 0);
  return { hub, publish, listening };
}

/** Every symbol listed; the book read waits for `release` when held. */
function fakeHistory() {
  let gate: Promise<void> | undefined;
  const history: FeedHistory = {
    eventsAfter: async () => [],
    lastSeq: async () => 0,
    lastSeqs: async () => new Map(),
    isListed: async () => true,
    async bookSnapshot(symbol, now) {
      if (gate) await gate;
      return book(symbol, now.getTime(), 17_000);
    },
  };
  return {
    history,
    hold() {
      let release!: () => void;
      gate = new Promise((r) => (release = r));
      return release;
    },
  };
}

/** A book with one bid at `bid` cents, as read; `published` gives it as the relay publishes it. */
function book(symbol: string, tsMs: number, bid: number): MarketUpdate {
  const ts = new Date(tsMs).toISOString();
  return {
    symbol,
    eventId: `e${tsMs}`,
    ts,
    tsMs,
    quote: { bid: { price: bid, qty: 1 }, ask: null },
    depth: { bids: [{ price: bid, qty: 1, orders: 1 }], asks: [] },
    trades: [],
  };
}
const published = (m: MarketUpdate) => ({ ...m, event_id: m.eventId });

const principal: VerifiedAccessToken = {
  userId: '00000000-0000-4000-8000-000000000001',
  accountId: '00000000-0000-4000-8000-000000000002',
  email: 'u1@example.com',
  sessionId: 's1',
  role: 'client',
  jti: 'j1',
  expiresAt: new Date(T0 + 3_600_000),
};

let server: Server | undefined;
let cable: CableServer | undefined;
afterEach(async () => {
  await cable?.close();
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  server = cable = undefined;
});

async function serve(hub: FeedHub, history: FeedHistory) {
  cable = createCableServer({
    logger: createLogger('silent'),
    hub,
    history,
    authenticate: async () => principal,
    orderOwner: async () => undefined,
    redisPrefix: PREFIX,
    now: () => new Date(T0),
    options: {
      path: '/cable',
      allowedOrigins: '*',
      maxPayloadBytes: 4096,
      maxBufferedBytes: 1 << 20,
      maxConnections: 10,
      pingMs: 60_000,
      revalidateMs: 60_000,
      maxSubscriptions: 50,
      maxSymbols: 50,
      ratePerSecond: 20,
      rateBurst: 40,
      closeGraceMs: 2_000,
      ...REVOCATION_RETRY,
    },
  });
  const s = (server = createServer());
  s.on('upgrade', (req, socket, head) => cable!.handleUpgrade(req, socket, head));
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const ws = new WebSocket(`ws://127.0.0.1:${(s.address() as AddressInfo).port}/cable?token=t`);
  const frames: Record<string, unknown>[] = [];
  ws.on('message', (d: Buffer) => frames.push(JSON.parse(d.toString()) as Record<string, unknown>));
  await new Promise((r) => ws.once('open', r));
  const next = async (pred: (f: Record<string, unknown>) => boolean) => {
    for (let i = 0; i < 200; i++) {
      const hit = frames.find(pred);
      if (hit) return hit;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`no matching frame; got ${JSON.stringify(frames)}`);
  };
  return { ws, frames, next };
}

const MARKET = (symbols: string[]) => JSON.stringify({ channel: 'MarketChannel', symbols });

describe('/cable MarketChannel', () => {
  it('releases the symbols that subscribed when another one fails, and rejects', async () => {
    const h = fakeHub([marketChannel(PREFIX, 'MSFT')]);
    const c = await serve(h.hub, fakeHistory().history);
    const identifier = MARKET(['AAPL', 'MSFT', 'TSLA']);
    c.ws.send(JSON.stringify({ command: 'subscribe', identifier }));
    expect(await c.next((f) => f.identifier === identifier)).toEqual({
      identifier,
      type: 'reject_subscription',
    });
    expect(h.listening()).toBe(0);
    c.ws.close();
  });

  it('keeps a live update that arrived while the snapshot was read, and drops older ones after it', async () => {
    const h = fakeHub();
    const history = fakeHistory();
    const c = await serve(h.hub, history.history);
    const release = history.hold();
    const identifier = MARKET(['AAPL']);
    c.ws.send(JSON.stringify({ command: 'subscribe', identifier }));
    await c.next((f) => f.type === 'confirm_subscription');
    const channel = marketChannel(PREFIX, 'AAPL');
    h.publish(channel, published(book('AAPL', T0 - 100, 18_000)));
    release(); // the snapshot read now returns the book as of before that update
    h.publish(channel, published(book('AAPL', T0 - 200, 17_500))); // a relay's late, older publication
    h.publish(channel, published(book('AAPL', T0 - 50, 18_100)));
    await c.next((f) => (f.message as { bids?: unknown[][] } | undefined)?.bids?.[0]?.[0] === 181);
    await new Promise((r) => setTimeout(r, 50));
    const bids = c.frames
      .map((f) => f.message as { type?: string; bids?: unknown[][] } | undefined)
      .filter((m) => m?.type === 'orderbook')
      .map((m) => m!.bids![0]![0]);
    expect(bids).toEqual([180, 181]);
    c.ws.close();
  });
});
