/**
 * The live feed on a real port, against the real saga, matching shard and outbox relay (isolated
 * database per file): upgrade security, own executions only, market channels, resume without gap or
 * duplicate, lost and duplicated pub/sub messages, abuse limits, heartbeats, token expiry, drain.
 */
import { isDeepStrictEqual } from 'node:util';
import { sql } from 'drizzle-orm';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectRedis } from '../../lib/redis.js';
import { marketChannel } from '../../lib/redis-keys.js';
import {
  eventually,
  publishAgainAsTakeover,
  serveBehindProxy,
  startTradingFixture,
  type TradingFixture,
} from '../../test/trading.js';
import { createFundedUser, type FundedTestUser } from '../../test/users.js';
import { authServices } from '../auth/services.js';
import { signAccessToken } from '../auth/tokens.js';
import { CloseCode } from './protocol.js';
import {
  accountFrames,
  connectFeed,
  serveWithFeed,
  upgradeStatus,
  type FeedClient,
  type Frame,
  type ServedFeed,
} from './testing.js';

/** The feed's limits in this file: short timers, a small buffer. */
const FEED_OPTIONS = {
  heartbeatMs: 1000,
  sweepMs: 300,
  revalidateMs: 500,
  maxBufferedBytes: 256 * 1024,
  closeGraceMs: 500,
};

let fx: TradingFixture;
let served: ServedFeed;
let seller: FundedTestUser;
let buyer: FundedTestUser;
let other: FundedTestUser;
const clients: FeedClient[] = [];

beforeAll(async () => {
  fx = await startTradingFixture('wsfeed');
  served = await serveWithFeed(fx.api.app, fx.api.deps, FEED_OPTIONS);
  [seller, buyer, other] = await Promise.all([
    createFundedUser(fx.api, '0.00', { AAPL: 100n, MSFT: 100n, TSLA: 100n, AMZN: 100n }),
    createFundedUser(fx.api, '100000.00'),
    createFundedUser(fx.api, '100000.00', { AAPL: 100n }),
  ]);
}, 120_000);

afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.close()));
  await served?.close();
  if (fx) await fx.close();
});

async function open(opts: Parameters<typeof connectFeed>[1], url = served.url): Promise<FeedClient> {
  const c = await connectFeed(url, opts);
  clients.push(c);
  return c;
}

let orderCount = 0;
async function place(
  user: FundedTestUser,
  side: 'buy' | 'sell',
  symbol: string,
  quantity: number,
  price: string,
) {
  const clientOrderId = `ws-${side}-${++orderCount}`;
  const res = await fx.api.call('POST', '/api/v1/orders', {
    token: user.token,
    body: {
      order: {
        symbol,
        order_type: 'limit',
        direction: side,
        quantity,
        price,
        time_in_force: 'GTC',
        client_order_id: clientOrderId,
      },
    },
  });
  const body = (await res.json()) as Record<string, unknown>;
  expect(res.status, JSON.stringify(body)).toBe(201);
  return { orderId: body.order_id as string, clientOrderId, status: body.status as string };
}

/** Subscribe `executions` and wait until the stream is live; returns the seq it starts after. */
async function subscribeExecutions(c: FeedClient, since?: number): Promise<number> {
  const from = c.frames.length;
  c.send({ op: 'subscribe', channel: 'executions', ...(since === undefined ? {} : { since }) });
  const caught = await c.waitFor((f) => f.type === 'caught_up', { from });
  return caught.seq as number;
}

async function outboxSeqs(accountId: string, after = 0): Promise<{ seq: number; event_id: string }[]> {
  const rows = await fx.database.db.execute<{ seq: string; event_id: string }>(sql`
    SELECT account_seq::text AS seq, coalesce(payload->>'event_id', id::text) AS event_id FROM outbox
    WHERE account_id = ${accountId}::uuid AND account_seq > ${after} ORDER BY account_seq`);
  return rows.map((r) => ({ seq: Number(r.seq), event_id: r.event_id }));
}

const seqsOf = (frames: Frame[]) => frames.map((f) => f.seq as number);

async function mintToken(user: FundedTestUser, issuedAt: Date, ttlSeconds: number): Promise<string> {
  const key = await authServices(fx.api.deps).keys.signingKey();
  const sid = decodeJwt(user.token).sid as string;
  const { token } = await signAccessToken(
    key,
    { userId: user.userId, accountId: user.accountId, email: user.email, sessionId: sid, role: 'client' },
    issuedAt,
    ttlSeconds,
  );
  return token;
}

describe('upgrade', () => {
  it('refuses a missing, garbage, malformed or expired token with 401 before the socket opens', async () => {
    expect((await upgradeStatus(served.url)).status).toBe(401);
    expect((await upgradeStatus(served.url, { token: 'not.a.jwt' })).status).toBe(401);
    expect((await upgradeStatus(served.url, { token: 'x', tokenInQuery: true })).status).toBe(401);
    expect(
      (await upgradeStatus(served.url, { ws: { headers: { authorization: 'Basic dXNlcjpwdw==' } } })).status,
    ).toBe(401);
    const expired = await mintToken(buyer, new Date(Date.now() - 120_000), 30);
    const refused = await upgradeStatus(served.url, { token: expired });
    expect(refused.status).toBe(401);
    expect(JSON.parse(refused.body)).toMatchObject({ code: 'unauthorized', status: 401 });
    // The token itself never shows up in what the server answers.
    expect(refused.body).not.toContain(expired);
  });

  it('refuses a foreign Origin with 403 and accepts an allowed one, the header or the query token', async () => {
    // An origin the fixture's configuration allows (ALLOWED_ORIGINS), whatever its port.
    const allowedOrigin = () => fx.config.ALLOWED_ORIGINS.split(',')[0]!.trim();
    expect(
      (await upgradeStatus(served.url, { token: buyer.token, origin: 'https://evil.example' })).status,
    ).toBe(403);
    expect((await upgradeStatus(served.url, { token: buyer.token, origin: 'null' })).status).toBe(403);
    expect((await upgradeStatus(served.url, { token: buyer.token, origin: allowedOrigin() })).status).toBe(
      101,
    );
    expect((await upgradeStatus(served.url, { token: buyer.token, tokenInQuery: true })).status).toBe(101);
    expect((await upgradeStatus(served.url.replace('/ws', '/wss'), { token: buyer.token })).status).toBe(404);
    expect((await upgradeStatus(`${served.url}?since=-3`, { token: buyer.token })).status).toBe(400);
  });

  it('welcomes with the instance, the account and the token expiry', async () => {
    const c = await open({ token: buyer.token });
    expect(c.welcome).toMatchObject({
      type: 'welcome',
      protocol: 1,
      instance_id: fx.api.deps.config.INSTANCE_ID,
      account_id: buyer.accountId,
      expires_at: new Date((decodeJwt(buyer.token).exp as number) * 1000).toISOString(),
    });
    c.send({ op: 'ping', id: 'p1' });
    expect(await c.waitFor((f) => f.type === 'pong')).toMatchObject({ id: 'p1' });
    c.send('{"op":"subscribe","channel":"nope"}');
    expect(await c.waitFor((f) => f.type === 'error')).toMatchObject({ code: 'bad_request' });
  });
});

describe('executions', () => {
  it('a client sees its own fills, with seq and event id, and none of another account', async () => {
    const [s, b, o] = await Promise.all([
      open({ token: seller.token }),
      open({ token: buyer.token }),
      open({ token: other.token }),
    ]);
    const [s0, b0, o0] = await Promise.all([
      subscribeExecutions(s),
      subscribeExecutions(b),
      subscribeExecutions(o),
    ]);
    const sell = await place(seller, 'sell', 'AAPL', 5, '190.00');
    const buy = await place(buyer, 'buy', 'AAPL', 5, '191.00');
    expect(buy.status).toBe('filled');

    const sellerFill = await s.waitFor((f) => f.type === 'execution' && f.exec_type === 'fill');
    expect(sellerFill).toMatchObject({
      order_id: sell.orderId,
      client_order_id: sell.clientOrderId,
      side: 'sell',
      symbol: 'AAPL',
      fill_qty: 5,
      fill_price: 190,
      cum_qty: 5,
      leaves_qty: 0,
      status: 'filled',
    });
    expect(typeof sellerFill.event_id).toBe('string');
    expect(typeof sellerFill.ts).toBe('string');
    const buyerFill = await b.waitFor((f) => f.type === 'execution' && f.exec_type === 'fill');
    expect(buyerFill).toMatchObject({
      order_id: buy.orderId,
      side: 'buy',
      fill_qty: 5,
      fill_price: 190,
      leaves_qty: 0,
    });

    // Exactly the account's outbox events, in seq order, nothing else.
    for (const [c, user, start] of [
      [s, seller, s0],
      [b, buyer, b0],
    ] as const) {
      const expected = await outboxSeqs(user.accountId, start);
      await eventually(async () => expect(seqsOf(accountFrames(c))).toEqual(expected.map((e) => e.seq)));
      expect(accountFrames(c).map((f) => f.event_id)).toEqual(expected.map((e) => e.event_id));
    }
    expect(accountFrames(s).map((f) => [f.type, f.exec_type])).toEqual([
      ['order_accepted', undefined],
      ['execution', 'new'],
      ['execution', 'fill'],
    ]);
    await new Promise((r) => setTimeout(r, 500));
    expect(accountFrames(o)).toEqual([]);
    expect(await outboxSeqs(other.accountId, o0)).toEqual([]);
  });

  it('resumes with since: every missed event exactly once, in seq order, then live', async () => {
    const c = await open({ token: buyer.token });
    await subscribeExecutions(c);
    await place(buyer, 'buy', 'TSLA', 1, '240.00');
    const seen = await c.waitFor(
      (f) => f.type === 'execution' && f.exec_type === 'new' && f.symbol === 'TSLA',
    );
    const last = seen.seq as number;
    await c.close();

    // Missed while away: two more orders and a cancel.
    await place(buyer, 'buy', 'TSLA', 2, '241.00');
    const third = await place(buyer, 'buy', 'TSLA', 3, '242.00');
    expect(
      (await fx.api.call('DELETE', `/api/v1/orders/${third.orderId}`, { token: buyer.token })).status,
    ).toBe(200);
    const missed = await outboxSeqs(buyer.accountId, last);
    expect(missed.length).toBeGreaterThanOrEqual(5);

    // `?since=` on the URL subscribes at once.
    const back = await open({ token: buyer.token, since: last });
    const caught = await back.waitFor((f) => f.type === 'caught_up');
    expect(caught.seq).toBe(missed.at(-1)!.seq);
    expect(seqsOf(accountFrames(back))).toEqual(missed.map((e) => e.seq));
    expect(accountFrames(back).map((f) => f.event_id)).toEqual(missed.map((e) => e.event_id));
    expect(accountFrames(back).some((f) => f.exec_type === 'canceled')).toBe(true);

    // The same with the subscribe operation, and live events continue after the replay.
    const again = await open({ token: buyer.token });
    expect(await subscribeExecutions(again, last)).toBe(caught.seq);
    expect(seqsOf(accountFrames(again))).toEqual(missed.map((e) => e.seq));
    await place(buyer, 'buy', 'TSLA', 1, '239.00');
    const expected = await outboxSeqs(buyer.accountId, last);
    await eventually(async () => expect(seqsOf(accountFrames(again))).toEqual(expected.map((e) => e.seq)));
    await eventually(async () => expect(seqsOf(accountFrames(back))).toEqual(expected.map((e) => e.seq)));
  });

  it('lost pub/sub (relay not publishing) and duplicates (publish again before marking done): each event once', async () => {
    const live = await open({ token: other.token });
    const start = await subscribeExecutions(live);
    await fx.stack.relay.stop();
    try {
      await place(other, 'buy', 'AMZN', 1, '180.00');
      await place(other, 'sell', 'AAPL', 1, '199.00');
      const expected = await outboxSeqs(other.accountId, start);
      expect(expected.length).toBe(4);
      // Nothing is published; the live socket learns of the events from the Postgres sweep.
      await eventually(async () => expect(seqsOf(accountFrames(live))).toEqual(expected.map((e) => e.seq)));
      const resyncs = await fx.api.deps.metrics.wsResyncs.get();
      expect(resyncs.values.find((v) => v.labels.cause === 'sweep')?.value ?? 0).toBeGreaterThanOrEqual(1);
      // A client that reconnects gets them from Postgres as well.
      const resumed = await open({ token: other.token, since: start });
      await resumed.waitFor((f) => f.type === 'caught_up');
      expect(seqsOf(accountFrames(resumed))).toEqual(expected.map((e) => e.seq));

      // The relay publishes them late, and then a relay taking over publishes them once more (the first
      // one killed between publishing and marking them done: its next claim would have marked them).
      const dropped = async () => (await fx.api.deps.metrics.wsDuplicatesDropped.get()).values[0]?.value ?? 0;
      const before = await dropped();
      expect(await fx.stack.relay.processBatch()).toBeGreaterThan(0);
      expect(await publishAgainAsTakeover(fx)).toBeGreaterThanOrEqual(4);
      await eventually(async () =>
        expect(await dropped()).toBeGreaterThanOrEqual(before + 2 * 2 * expected.length),
      );
      for (const c of [live, resumed]) {
        expect(seqsOf(accountFrames(c))).toEqual(expected.map((e) => e.seq));
        expect(new Set(accountFrames(c).map((f) => f.event_id)).size).toBe(expected.length);
      }
    } finally {
      await fx.stack.relay.start();
    }
  });
});

describe('the Redis subscriber', () => {
  it('comes back after its connection is killed, resubscribes, and resyncs the account streams', async () => {
    const c = await open({ token: buyer.token });
    const start = await subscribeExecutions(c);
    const resyncs = async () =>
      (await fx.api.deps.metrics.wsResyncs.get()).values.find((v) => v.labels.cause === 'redis_reconnect')
        ?.value ?? 0;
    const before = await resyncs();
    // Only this feed's own subscriber connection is killed (the Redis is shared).
    const admin = connectRedis(fx.config.REDIS_URL, 'test-ws-admin');
    try {
      const list = String(await admin.call('CLIENT', 'LIST'));
      const ids = list
        .split('\n')
        .filter((l) => l.includes(` name=api-${fx.api.deps.config.INSTANCE_ID}-feed `))
        .map((l) => /\bid=(\d+)/.exec(l)?.[1])
        .filter((id): id is string => id !== undefined);
      expect(ids.length).toBeGreaterThanOrEqual(1);
      for (const id of ids) await admin.call('CLIENT', 'KILL', 'ID', id);
    } finally {
      await admin.quit();
    }
    await eventually(async () => expect(await resyncs()).toBeGreaterThan(before));
    await place(buyer, 'buy', 'AMZN', 1, '181.00');
    const expected = await outboxSeqs(buyer.accountId, start);
    expect(expected.length).toBeGreaterThanOrEqual(2);
    await eventually(async () => expect(seqsOf(accountFrames(c))).toEqual(expected.map((e) => e.seq)));
  });

  it('after it was away, the books are read again: a change published meanwhile reaches old and new subscribers', async () => {
    const own = await serveBehindProxy(fx, FEED_OPTIONS);
    try {
      const old = await open({ token: other.token }, own.url);
      old.send({ op: 'subscribe', channel: 'quotes', symbol: 'AMZN' });
      await old.waitFor((f) => f.type === 'quote' && f.snapshot === true);
      // A live update: the feed keeps it as the symbol's last book (new subscribers' snapshot).
      await place(seller, 'sell', 'AMZN', 1, '190.00');
      await old.waitFor((f) => f.type === 'quote' && isDeepStrictEqual(f.ask, { price: 190, quantity: 1 }));
      // A new best bid, published while the feed's subscriber connection is cut.
      await own.publishWhileCut(async () => {
        await place(buyer, 'buy', 'AMZN', 1, '183.00');
        await eventually(async () => {
          const [row] = await fx.database.sql<{ n: number }[]>`
            SELECT count(*)::int AS n FROM outbox WHERE event_type = 'market.update' AND status = 'pending'
               AND payload->>'symbol' = 'AMZN' AND payload->'quote'->'bid'->>'price' = '18300'`;
          expect(row?.n).toBe(1);
        });
      });
      const bid = { price: 183, quantity: 1 };
      await old.waitFor((f) => f.type === 'quote' && isDeepStrictEqual(f.bid, bid));
      const late = await open({ token: buyer.token }, own.url);
      late.send({ op: 'subscribe', channel: 'quotes', symbol: 'AMZN' });
      expect(await late.waitFor((f) => f.type === 'quote')).toMatchObject({ snapshot: true, bid });
    } finally {
      await own.close();
    }
  });
});

describe('market channels', () => {
  it('quotes, depth and trades of a symbol: a snapshot first, then changes and trades', async () => {
    const c = await open({ token: other.token });
    for (const channel of ['quotes', 'depth', 'trades'])
      c.send({ op: 'subscribe', channel, symbol: 'MSFT', id: channel });
    for (const channel of ['quotes', 'depth', 'trades'])
      await c.waitFor((f) => f.type === 'subscribed' && f.id === channel);
    expect(await c.waitFor((f) => f.type === 'quote' && f.snapshot === true)).toMatchObject({
      symbol: 'MSFT',
      bid: null,
      ask: null,
    });
    await c.waitFor((f) => f.type === 'depth' && f.snapshot === true);

    await place(seller, 'sell', 'MSFT', 3, '420.00');
    expect(await c.waitFor((f) => f.type === 'quote' && f.snapshot === undefined)).toMatchObject({
      ask: { price: 420, quantity: 3 },
      bid: null,
    });
    expect(await c.waitFor((f) => f.type === 'depth' && f.snapshot === undefined)).toMatchObject({
      asks: [{ price: 420, quantity: 3, orders: 1 }],
      bids: [],
    });
    await place(buyer, 'buy', 'MSFT', 2, '421.00');
    expect(await c.waitFor((f) => f.type === 'trade')).toMatchObject({
      symbol: 'MSFT',
      price: 420,
      quantity: 2,
    });
    await c.waitFor((f) => f.type === 'quote' && (f.ask as { quantity: number } | null)?.quantity === 1);
    expect(c.frames.filter((f) => f.type === 'trade')).toHaveLength(1);

    // A late subscriber starts from the current book.
    const late = await open({ token: buyer.token });
    late.send({ op: 'subscribe', channel: 'quotes', symbol: 'msft' });
    expect(await late.waitFor((f) => f.type === 'quote')).toMatchObject({
      snapshot: true,
      ask: { price: 420, quantity: 1 },
    });
    late.send({ op: 'subscribe', channel: 'trades', symbol: 'NOPE', id: 7 });
    expect(await late.waitFor((f) => f.type === 'error')).toMatchObject({ code: 'unknown_symbol', id: 7 });
    late.send({ op: 'unsubscribe', channel: 'quotes', symbol: 'MSFT', id: 8 });
    expect(await late.waitFor((f) => f.type === 'unsubscribed')).toMatchObject({
      channel: 'quotes',
      symbol: 'MSFT',
      id: 8,
    });
    // Executions of the account never go to a market-only subscriber.
    expect(accountFrames(c)).toEqual([]);
  });
});

describe('abuse and slow consumers', () => {
  it('a message flood and an oversized frame close only the offending sockets', async () => {
    const [flooder, big, bystander] = await Promise.all([
      open({ token: buyer.token }),
      open({ token: buyer.token }),
      open({ token: other.token }),
    ]);
    for (let i = 0; i < 200; i++) flooder.send({ op: 'ping', id: i });
    expect(await flooder.waitFor((f) => f.type === 'error' && f.code === 'rate_limited')).toBeTruthy();
    expect((await flooder.closed).code).toBe(CloseCode.PolicyViolation);

    big.send(JSON.stringify({ op: 'ping', id: 'x'.repeat(5000) }));
    expect((await big.closed).code).toBe(CloseCode.MessageTooBig);

    bystander.send({ op: 'ping', id: 'still-here' });
    expect(await bystander.waitFor((f) => f.type === 'pong')).toMatchObject({ id: 'still-here' });
    const reasons = await fx.api.deps.metrics.wsDisconnects.get();
    const count = (reason: string) => reasons.values.find((v) => v.labels.reason === reason)?.value ?? 0;
    expect(count('rate_limited')).toBeGreaterThanOrEqual(1);
    expect(count('message_too_big')).toBeGreaterThanOrEqual(1);
  });

  it('a consumer that stops reading is disconnected while another one gets every frame', async () => {
    // A feed of its own, with the file's limits but a slow heartbeat: a paused socket answers no ping, so
    // with the file's 1 s heartbeat it is terminated as dead ('heartbeat') whenever filling the kernel's
    // buffers takes longer than that (a loaded machine), before it can be dropped as slow.
    const own = await serveWithFeed(fx.api.app, fx.api.deps, { ...FEED_OPTIONS, heartbeatMs: 60_000 });
    const publisher = connectRedis(fx.config.REDIS_URL, 'test-ws-publisher');
    try {
      const [slow, fast] = await Promise.all([
        open({ token: buyer.token }, own.url),
        open({ token: other.token }, own.url),
      ]);
      for (const c of [slow, fast]) {
        c.send({ op: 'subscribe', channel: 'depth', symbol: 'GOOG' });
        await c.waitFor((f) => f.type === 'depth' && f.snapshot === true);
      }
      slow.ws.pause(); // stops reading from the TCP socket
      const channel = marketChannel(fx.config.REDIS_PREFIX, 'GOOG');
      const slowDrops = async () =>
        (await fx.api.deps.metrics.wsDisconnects.get()).values.find(
          (v) => v.labels.reason === 'slow_consumer',
        )?.value ?? 0;
      const dropsBefore = await slowDrops();
      const fastDepth = () => fast.frames.filter((f) => f.type === 'depth' && !f.snapshot).length;
      const base = Date.now();
      let sent = 0;
      // Published in small batches at the pace of the fast reader, until the paused one is dropped. The
      // kernel's socket buffers take tens of MB before the server's own buffer starts to grow (receive
      // buffers autotune up to net.ipv4.tcp_rmem's maximum, 32 MB on some machines), so each frame
      // carries 60 levels a side (about 4 KB).
      while ((await slowDrops()) === dropsBefore && sent < 60_000) {
        const pipe = publisher.pipeline();
        for (let n = 0; n < 200; n++, sent++) {
          const levels = Array.from({ length: 60 }, (_, l) => ({
            price: 17_000 - l * 10,
            qty: 1 + ((sent + l) % 97),
            orders: 1 + l,
          }));
          const asks = levels.map((l, i) => ({ ...l, price: 17_010 + i * 10 }));
          pipe.publish(
            channel,
            JSON.stringify({
              event_type: 'market.update',
              event_id: `fake-${sent}`,
              symbol: 'GOOG',
              quote: {
                bid: { price: levels[0]!.price, qty: levels[0]!.qty },
                ask: { price: asks[0]!.price, qty: asks[0]!.qty },
              },
              depth: { bids: levels, asks },
              trades: [],
              ts: new Date(base + sent).toISOString(),
            }),
          );
        }
        const from = fast.frames.length;
        await pipe.exec();
        await fast.waitFor((f) => f.event_id === `fake-${sent - 1}`, { from });
      }
      expect(await slowDrops()).toBe(dropsBefore + 1);
      expect(fast.ws.readyState).toBe(fast.ws.OPEN);
      expect(fastDepth()).toBe(sent);
      slow.ws.resume();
      expect([CloseCode.TryAgainLater, 1006]).toContain((await slow.closed).code);
      expect(slow.frames.filter((f) => f.type === 'depth').length).toBeLessThan(sent);
    } finally {
      await publisher.quit();
      await own.close();
    }
  }, 60_000);

  it('a socket that does not answer pings is terminated; one that does stays', async () => {
    const [mute, healthy] = await Promise.all([
      open({ token: buyer.token, ws: { autoPong: false } }),
      open({ token: other.token }),
    ]);
    const { code } = await mute.closed;
    expect(code).toBe(1006);
    healthy.send({ op: 'ping' });
    await healthy.waitFor((f) => f.type === 'pong');
    expect(healthy.ws.readyState).toBe(healthy.ws.OPEN);
  });
});

describe('token lifetime', () => {
  it('closes with 4001 when the token expires, unless a fresh token of the same account extends it', async () => {
    const short = await mintToken(buyer, new Date(Date.now() - 27_000), 30);
    const [expiring, renewed] = await Promise.all([open({ token: short }), open({ token: short })]);
    renewed.send({ op: 'auth', token: other.token, id: 'wrong' });
    expect(await renewed.waitFor((f) => f.type === 'error' && f.id === 'wrong')).toMatchObject({
      code: 'account_mismatch',
    });
    renewed.send({ op: 'auth', token: 'garbage', id: 'bad' });
    expect(await renewed.waitFor((f) => f.type === 'error' && f.id === 'bad')).toMatchObject({
      code: 'invalid_token',
    });
    renewed.send({ op: 'auth', token: buyer.token, id: 'ok' });
    const ack = await renewed.waitFor((f) => f.type === 'authenticated');
    expect(ack).toMatchObject({
      id: 'ok',
      expires_at: new Date((decodeJwt(buyer.token).exp as number) * 1000).toISOString(),
    });

    expect((await expiring.closed).code).toBe(CloseCode.TokenExpired);
    renewed.send({ op: 'ping', id: 'after' });
    await renewed.waitFor((f) => f.type === 'pong' && f.id === 'after');
  });

  it('a logout (revoked session) closes the open sockets of that session with 4003 and refuses new ones', async () => {
    const user = await createFundedUser(fx.api, '0.00');
    const c = await open({ token: user.token });
    const res = await fx.api.call('POST', '/api/v1/auth/logout', { token: user.token });
    expect(res.status).toBe(200);
    expect((await c.closed).code).toBe(CloseCode.SessionRevoked);
    expect((await upgradeStatus(served.url, { token: user.token })).status).toBe(401);
  });
});

describe('drain', () => {
  it('sends reconnect and closes with 1012; new upgrades get 503', async () => {
    const second = await serveWithFeed(fx.api.app, fx.api.deps);
    try {
      const c = await open({ token: buyer.token }, second.url);
      await subscribeExecutions(c);
      await second.feed.drain();
      expect(await c.waitFor((f) => f.type === 'reconnect')).toMatchObject({ reason: 'server_shutdown' });
      expect((await c.closed).code).toBe(CloseCode.ServiceRestart);
      expect((await upgradeStatus(second.url, { token: buyer.token })).status).toBe(503);
    } finally {
      await second.close();
    }
  });
});
