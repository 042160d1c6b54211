/**
 * `/cable` with the stock ActionCable client from npm (@rails/actioncable, given the `ws` package as its
 * WebSocket), against a real api, trading worker, matching shard and relay; plus a raw socket for the
 * protocol frames the client swallows (welcome, ping, disconnect). A revoked session's sockets are
 * disconnected at once, as on `/ws`, not at the next re-check. A client that stops reading is cut off
 * after the close grace, as on `/ws`, so it cannot hold a drain (and the api's shutdown) up.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { isDeepStrictEqual } from 'node:util';
import { createConsumer, adapters, type Consumer, type Subscription } from '@rails/actioncable';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import {
  eventually,
  publishAgainAsTakeover,
  serveBehindProxy,
  startTradingFixture,
  type TradingFixture,
} from '../../test/trading.js';
import { createFundedUser, loginWithEmailCode, type FundedTestUser } from '../../test/users.js';
import { connectCable, serveWithFeed, type ServedFeed } from './testing.js';

// ActionCable's connection monitor listens for the page's visibilitychange: Node has no page.
const g = globalThis as unknown as { addEventListener?: () => void; removeEventListener?: () => void };
g.addEventListener ??= () => {};
g.removeEventListener ??= () => {};
adapters.WebSocket = WebSocket as unknown as typeof globalThis.WebSocket;

let fx: TradingFixture;
let served: ServedFeed;
const consumers: Consumer[] = [];

beforeAll(async () => {
  fx = await startTradingFixture('cable');
  served = await serveWithFeed(fx.api.app, fx.api.deps);
}, 120_000);
afterAll(async () => {
  for (const c of consumers) c.disconnect();
  await served?.close();
  await fx?.close();
});

type Msg = Record<string, unknown>;

/** A subscription through the stock client, recording what it received. */
function subscribe(consumer: Consumer, params: Msg) {
  const received: Msg[] = [];
  const waiters: (() => void)[] = [];
  let settle!: (outcome: 'connected' | 'rejected') => void;
  const outcome = new Promise<'connected' | 'rejected'>((r) => (settle = r));
  const subscription: Subscription = consumer.subscriptions.create(params as { channel: string }, {
    connected: () => settle('connected'),
    rejected: () => settle('rejected'),
    received: (m: Msg) => {
      received.push(m);
      for (const w of waiters.splice(0)) w();
    },
  });
  const waitFor = async (pred: (m: Msg) => boolean, timeoutMs = 10_000): Promise<Msg> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = received.find(pred);
      if (hit) return hit;
      if (Date.now() > deadline)
        throw new Error(`no message matching within ${timeoutMs} ms; got ${JSON.stringify(received)}`);
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 200);
      });
    }
  };
  return { subscription, outcome, received, waitFor };
}

function consumerFor(token: string, viaBearer = false): Consumer {
  const c = createConsumer(
    `${served.cableUrl}?token=${encodeURIComponent(viaBearer ? `Bearer ${token}` : token)}`,
  );
  consumers.push(c);
  return c;
}

async function place(user: FundedTestUser, order: Msg): Promise<Msg> {
  const res = await fx.api.call('POST', '/api/v1/orders', {
    token: user.token,
    body: { order: { order_type: 'limit', time_in_force: 'GTC', ...order } },
  });
  const body = (await res.json()) as Msg;
  expect(res.status, JSON.stringify(body)).toBe(201);
  return body;
}

describe('/cable with the stock ActionCable client', () => {
  it('streams the caller’s fills (OrdersChannel), its order’s status (orders_status:<order_id>) and the book (MarketChannel)', async () => {
    const seller = await createFundedUser(fx.api, '0.00', { MSFT: 10n });
    const buyer = await createFundedUser(fx.api, '10000.00');
    const sell = await place(seller, { symbol: 'MSFT', direction: 'sell', quantity: 10, price: '421.00' });

    const consumer = consumerFor(seller.token);
    const orders = subscribe(consumer, { channel: 'OrdersChannel' });
    const status = subscribe(consumer, { channel: 'OrdersChannel', order_id: sell.order_id });
    const market = subscribe(consumer, { channel: 'MarketChannel', symbols: ['msft'], mode: 'normal' });
    expect(await Promise.all([orders.outcome, status.outcome, market.outcome])).toEqual([
      'connected',
      'connected',
      'connected',
    ]);
    // The market snapshot at subscription: the resting sell is the best ask.
    const book = await market.waitFor((m) => m.type === 'orderbook');
    expect(book).toMatchObject({ symbol: 'MSFT', bids: [], asks: [[421, 10]] });
    expect(await market.waitFor((m) => m.type === 'quote')).toMatchObject({
      symbol: 'MSFT',
      bid: null,
      ask: 421,
      mid: null,
    });

    await place(buyer, { symbol: 'MSFT', direction: 'buy', quantity: 4, price: '421.00' });
    expect(await orders.waitFor((m) => m.type === 'trade')).toMatchObject({
      type: 'trade',
      order_id: sell.order_id,
      quantity: 4,
      price: 421,
      side: 'sell',
    });
    expect(await status.waitFor((m) => m.status === 'partially_filled')).toMatchObject({
      type: 'execution.report',
      order_id: sell.order_id,
      status: 'partially_filled',
      quantity: 4,
      price: 421,
      cum_qty: 4,
      leaves_qty: 6,
    });
    expect(
      await market.waitFor((m) => m.type === 'orderbook' && JSON.stringify(m.asks) === '[[421,6]]'),
    ).toMatchObject({ symbol: 'MSFT' });

    // Unsubscribed, the status stream is gone; the others go on.
    status.subscription.unsubscribe();
    const seen = status.received.length;
    await place(buyer, { symbol: 'MSFT', direction: 'buy', quantity: 6, price: '421.00' });
    await orders.waitFor((m) => m.type === 'trade' && m.quantity === 6);
    expect(status.received).toHaveLength(seen);
  });

  it('rejects another account’s order, unknown channels and bad parameters, and keeps the connection', async () => {
    const owner = await createFundedUser(fx.api, '1000.00');
    const other = await createFundedUser(fx.api, '0.00');
    const order = await place(owner, { symbol: 'AAPL', direction: 'buy', quantity: 1, price: '180.00' });
    const consumer = consumerFor(other.token, true);
    const cases: Msg[] = [
      { channel: 'OrdersChannel', order_id: order.order_id },
      { channel: 'OrdersChannel', order_id: 'not-a-uuid' },
      { channel: 'OrdersChannel', order_id: '00000000-0000-4000-8000-000000000000' },
      { channel: 'MarketChannel' },
      { channel: 'MarketChannel', symbols: ['NOPE'] },
      { channel: 'SagaChannel' },
    ];
    for (const params of cases)
      expect(await subscribe(consumer, params).outcome, JSON.stringify(params)).toBe('rejected');
    // The owner may follow it.
    expect(
      await subscribe(consumerFor(owner.token), { channel: 'OrdersChannel', order_id: order.order_id })
        .outcome,
    ).toBe('connected');
    expect(await subscribe(consumer, { channel: 'OrdersChannel' }).outcome).toBe('connected');
  });
});

describe('/cable and a relay that publishes again', () => {
  it('sends each fill once when a relay taking over publishes what the one before published and did not mark', async () => {
    const seller = await createFundedUser(fx.api, '0.00', { TSLA: 10n });
    const buyer = await createFundedUser(fx.api, '10000.00');
    const sell = await place(seller, { symbol: 'TSLA', direction: 'sell', quantity: 10, price: '240.00' });
    const consumer = consumerFor(seller.token);
    const orders = subscribe(consumer, { channel: 'OrdersChannel' });
    const status = subscribe(consumer, { channel: 'OrdersChannel', order_id: sell.order_id });
    expect(await Promise.all([orders.outcome, status.outcome])).toEqual(['connected', 'connected']);

    await fx.stack.relay.stop();
    try {
      await place(buyer, { symbol: 'TSLA', direction: 'buy', quantity: 4, price: '240.00' });
      await eventually(async () => {
        const [row] = await fx.database.sql<{ n: number }[]>`
          SELECT count(*)::int AS n FROM outbox WHERE account_id = ${seller.accountId}::uuid
             AND event_type = 'execution.report' AND (payload->>'fill_qty')::numeric > 0`;
        expect(row?.n).toBe(1);
      });
      // The relay publishes the fill and dies before marking it done (its next claim would have); the
      // relay that takes the lease over publishes it again.
      expect(await fx.stack.relay.processBatch()).toBeGreaterThan(0);
      expect(await publishAgainAsTakeover(fx)).toBeGreaterThan(0);
    } finally {
      await fx.stack.relay.start();
    }
    // A later fill comes after the repeated one on the account's channel: once it is here, so is that.
    await place(buyer, { symbol: 'TSLA', direction: 'buy', quantity: 6, price: '240.00' });
    await orders.waitFor((m) => m.type === 'trade' && m.quantity === 6);
    await status.waitFor((m) => m.status === 'filled');
    expect(orders.received.map((m) => [m.type, m.quantity])).toEqual([
      ['trade', 4],
      ['trade', 6],
    ]);
    expect(status.received.map((m) => [m.status, m.quantity])).toEqual([
      ['partially_filled', 4],
      ['filled', 6],
    ]);
  });
});

describe('/cable and a Redis subscriber that was away', () => {
  it('catches up on what was published meanwhile: the fill from Postgres (OrdersChannel), the book read again (MarketChannel)', async () => {
    const own = await serveBehindProxy(fx);
    try {
      const seller = await createFundedUser(fx.api, '0.00', { GOOG: 10n });
      const buyer = await createFundedUser(fx.api, '10000.00');
      const sell = await place(seller, { symbol: 'GOOG', direction: 'sell', quantity: 10, price: '170.00' });
      const c = await connectCable(`${own.cableUrl}?token=${seller.token}`);
      const orders = JSON.stringify({ channel: 'OrdersChannel' });
      const market = JSON.stringify({ channel: 'MarketChannel', symbols: ['GOOG'] });
      for (const identifier of [orders, market]) {
        c.ws.send(JSON.stringify({ command: 'subscribe', identifier }));
        await c.next((m) => m.identifier === identifier && m.type === 'confirm_subscription');
      }
      const book = (asks: unknown) => (m: Msg) =>
        m.identifier === market && isDeepStrictEqual((m.message as Msg | undefined)?.asks, asks);
      await c.next(book([[170, 10]]));
      // The seller's fill, published while the cable's subscriber connection is cut.
      await own.publishWhileCut(async () => {
        await place(buyer, { symbol: 'GOOG', direction: 'buy', quantity: 4, price: '170.00' });
        await eventually(async () => {
          const [row] = await fx.database.sql<{ fills: number; books: number }[]>`
            SELECT count(*) FILTER (WHERE account_id = ${seller.accountId}::uuid
                                      AND (payload->>'fill_qty')::numeric > 0)::int AS fills,
                   count(*) FILTER (WHERE event_type = 'market.update' AND payload->>'symbol' = 'GOOG')::int
                     AS books
              FROM outbox WHERE status = 'pending'`;
          expect(row?.fills).toBe(1);
          expect(row?.books).toBeGreaterThan(0);
        });
      });
      const trade = await c.next((m) => m.identifier === orders && m.message !== undefined);
      expect(trade.message).toMatchObject({ type: 'trade', order_id: sell.order_id, quantity: 4 });
      await c.next(book([[170, 6]]));
      c.ws.close();
    } finally {
      await own.close();
    }
  });
});

describe('/cable protocol frames', () => {
  it('welcomes, pings and confirms on actioncable-v1-json', async () => {
    const user = await createFundedUser(fx.api, '0.00');
    const c = await connectCable(`${served.cableUrl}?token=${user.token}`);
    expect(c.ws.protocol).toBe('actioncable-v1-json');
    expect(c.frames[0] ?? (await c.next(() => true))).toEqual({ type: 'welcome' });
    const ping = await c.next((m) => m.type === 'ping');
    expect(typeof ping.message).toBe('number');
    const identifier = JSON.stringify({ channel: 'OrdersChannel' });
    c.ws.send(JSON.stringify({ command: 'subscribe', identifier }));
    expect(await c.next((m) => m.identifier === identifier)).toEqual({
      identifier,
      type: 'confirm_subscription',
    });
    c.ws.close();
  });

  it('disconnects without reconnect when the token is missing or bad (as reject_unauthorized_connection)', async () => {
    for (const url of [served.cableUrl, `${served.cableUrl}?token=garbage`]) {
      const c = await connectCable(url);
      expect(await c.next((m) => m.type === 'disconnect')).toEqual({
        type: 'disconnect',
        reason: 'unauthorized',
        reconnect: false,
      });
      await c.closed;
    }
  });

  it('disconnects a flood of commands as /ws does (rate_limited, 1008), and lets the client come back', async () => {
    const user = await createFundedUser(fx.api, '0.00');
    const c = await connectCable(`${served.cableUrl}?token=${user.token}`);
    await c.next((m) => m.type === 'welcome');
    // Beyond WS_RATE_LIMIT_BURST (40): each would otherwise cost an order lookup in Postgres.
    for (let i = 0; i < 100; i++) {
      const identifier = JSON.stringify({ channel: 'OrdersChannel', order_id: randomUUID() });
      c.ws.send(JSON.stringify({ command: 'subscribe', identifier }));
    }
    expect(await c.next((m) => m.type === 'disconnect')).toEqual({
      type: 'disconnect',
      reason: 'rate_limited',
      reconnect: true,
    });
    expect(await c.closed).toBe(1008);
  });

  it('tells clients to reconnect elsewhere when the instance drains', async () => {
    const user = await createFundedUser(fx.api, '0.00');
    const second = await serveWithFeed(fx.api.app, fx.api.deps);
    const c = await connectCable(`${second.cableUrl}?token=${user.token}`);
    await c.next((m) => m.type === 'welcome');
    await second.cable.drain();
    expect(await c.next((m) => m.type === 'disconnect')).toEqual({
      type: 'disconnect',
      reason: 'server_restart',
      reconnect: true,
    });
    await c.closed;
    await second.close();
  });

  it('cuts off a client that never answers the close frame after closeGraceMs: the drain does not wait for it', async () => {
    const user = await createFundedUser(fx.api, '0.00');
    const second = await serveWithFeed(fx.api.app, fx.api.deps, {}, 0, { closeGraceMs: 200 });
    // A raw client that completes the upgrade, reads the welcome, then never reads again.
    const sock = connect(second.port, '127.0.0.1');
    sock.on('error', () => {});
    try {
      await new Promise<void>((resolve) => sock.once('connect', resolve));
      let received = '';
      const welcomed = new Promise<void>((resolve) =>
        sock.on('data', (d: Buffer) => {
          received += d.toString('latin1');
          if (received.includes('"welcome"')) resolve();
        }),
      );
      sock.write(
        `GET /cable?token=${user.token} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n` +
          `Connection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n` +
          `Sec-WebSocket-Version: 13\r\n\r\n`,
      );
      await welcomed;
      sock.pause();
      expect(received).toMatch(/^HTTP\/1\.1 101 /);
      const connections = () =>
        new Promise<number>((resolve, reject) =>
          second.server.getConnections((err, n) => (err ? reject(err) : resolve(n))),
        );
      expect(await connections()).toBe(1);

      await second.cable.drain();
      // Its socket is gone, not left to `ws`'s 30 s close timeout that the http server's close waits for.
      expect(await connections()).toBe(0);
      // It was told first: the disconnect (with reconnect), then the close frame, then the end.
      const ended = new Promise((resolve) => sock.once('close', resolve));
      sock.resume();
      await ended;
      expect(received).toContain('{"type":"disconnect","reason":"server_restart","reconnect":true}');
    } finally {
      sock.destroy();
      await second.close();
    }
  });
});

describe('/cable and revoked sessions', () => {
  it('a logout disconnects that session’s sockets at once (unauthorized, no reconnect); another session’s stays', async () => {
    // Re-check an hour away: only the revocation event can end the socket below.
    const second = await serveWithFeed(fx.api.app, fx.api.deps, {}, 0, { revalidateMs: 3_600_000 });
    try {
      const user = await createFundedUser(fx.api, '0.00');
      const other = await loginWithEmailCode(fx.api, user.email);
      const identifier = JSON.stringify({ channel: 'OrdersChannel' });
      const subscribed = async (token: string) => {
        const s = await connectCable(`${second.cableUrl}?token=${token}`);
        s.ws.send(JSON.stringify({ command: 'subscribe', identifier }));
        await s.next((m) => m.identifier === identifier && m.type === 'confirm_subscription');
        return s;
      };
      const [c, kept] = await Promise.all([subscribed(user.token), subscribed(other.token)]);
      expect((await fx.api.call('POST', '/api/v1/auth/logout', { token: user.token })).status).toBe(200);
      expect(await c.next((m) => m.type === 'disconnect')).toEqual({
        type: 'disconnect',
        reason: 'unauthorized',
        reconnect: false,
      });
      expect(await c.closed).toBe(1000);
      // The event has been handled for every socket: the other session's still answers.
      const market = JSON.stringify({ channel: 'MarketChannel', symbols: ['AAPL'] });
      kept.ws.send(JSON.stringify({ command: 'subscribe', identifier: market }));
      await kept.next((m) => m.identifier === market && m.type === 'confirm_subscription');
      expect(kept.frames.some((m) => m.type === 'disconnect')).toBe(false);
      kept.ws.close();
    } finally {
      await second.close();
    }
  });
});
