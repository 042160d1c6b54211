/**
 * Redis restarted under a running stack, on a `redis-server` of this file's own (never the machine's):
 * while it is down the abuse limits fail closed (ADR 0017: login answers 503 with Retry-After, so do
 * authenticated requests, whose revocation check needs Redis), the open feed and `/cable` sockets stay
 * open, and a new `/cable` socket is told to come back (not that its token is bad);
 * once it is back (empty), the feed resubscribes, and the subscriber gets every execution exactly
 * once, in sequence, with no gap: the fills of before, during and after the outage. A feed started while
 * Redis is down subscribes to revocations once it is back: a logout then closes its `/ws` and `/cable`
 * sockets at once.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditDeliveries } from '../../db/audit.js';
import { createLogger } from '../../lib/logger.js';
import { expectUnavailable, startPrivateRedis, type PrivateRedis } from '../../test/faults.js';
import { eventually, startTradingFixture, type TradingFixture } from '../../test/trading.js';
import { createFundedUser, TEST_PASSWORD, type FundedTestUser } from '../../test/users.js';
import { revocationChannel } from '../auth/revocation.js';
import { CloseCode } from './protocol.js';
import {
  accountFrames,
  connectCable,
  connectFeed,
  serveWithFeed,
  type FeedClient,
  type ServedFeed,
} from './testing.js';

let redis: PrivateRedis;
let fx: TradingFixture;
let served: ServedFeed;
let buyer: FundedTestUser;
let seller: FundedTestUser;
let feed: FeedClient;
let n = 0;

const place = async (u: FundedTestUser, direction: 'buy' | 'sell', quantity: number) => {
  const res = await fx.api.call('POST', '/api/v1/orders', {
    token: u.token,
    body: {
      order: {
        symbol: 'AAPL',
        order_type: 'limit',
        direction,
        quantity,
        price: '160.00',
        time_in_force: 'GTC',
        client_order_id: `rr-${++n}`,
      },
    },
  });
  expect(res.status, await res.clone().text()).toBe(201);
};

const committedSeqs = async (accountId: string) =>
  (
    await fx.database.db.execute<{ seq: string }>(
      sql`SELECT account_seq::text AS seq FROM outbox WHERE account_id = ${accountId}::uuid ORDER BY account_seq`,
    )
  ).map((r) => Number(r.seq));

beforeAll(async () => {
  redis = await startPrivateRedis();
  fx = await startTradingFixture('redisrestart', { env: { REDIS_URL: redis.url } });
  served = await serveWithFeed(
    fx.api.app,
    fx.api.deps,
    { heartbeatMs: 1000, sweepMs: 300, revalidateMs: 500 },
    0,
    { pingMs: 200, revalidateMs: 200 },
  );
  [buyer, seller] = await Promise.all([
    createFundedUser(fx.api, '100000.00'),
    createFundedUser(fx.api, '0', { AAPL: 100n }),
  ]);
  feed = await connectFeed(served.url, { token: buyer.token });
  feed.send({ op: 'subscribe', channel: 'executions' });
  await feed.waitFor((f) => f.type === 'caught_up');
}, 180_000);

afterAll(async () => {
  await feed?.close();
  await served?.close();
  await fx?.close();
  await redis?.close();
});

describe('Redis restarted', () => {
  it('fails the limits closed while down, keeps the socket, and the feed resumes without gap', async () => {
    await place(seller, 'sell', 5);
    await place(buyer, 'buy', 5);
    await eventually(async () => expect(accountFrames(feed).length).toBeGreaterThan(0), 15_000);
    const cable = await connectCable(`${served.cableUrl}?token=${buyer.token}`);
    await cable.next((m) => m.type === 'welcome');

    await redis.stop();
    const login = await fx.api.call('POST', '/api/v1/auth/login', {
      body: { email: buyer.email, password: TEST_PASSWORD },
    });
    await expectUnavailable(login);
    await expectUnavailable(await fx.api.call('GET', '/api/v1/orders', { token: buyer.token }));
    expect(feed.ws.readyState).toBe(feed.ws.OPEN);
    // The session cannot be checked: a new /cable socket is to retry; the open one survives its re-checks.
    const refused = await connectCable(`${served.cableUrl}?token=${buyer.token}`);
    expect(await refused.next((m) => m.type === 'disconnect')).toEqual({
      type: 'disconnect',
      reason: 'server_restart',
      reconnect: true,
    });
    expect(await refused.closed).toBe(1013);
    await new Promise((r) => setTimeout(r, 1000));
    expect(cable.frames.filter((m) => m.type === 'disconnect')).toEqual([]);
    expect(cable.ws.readyState).toBe(cable.ws.OPEN);
    cable.ws.close();

    await redis.start();
    await eventually(
      async () =>
        expect((await fx.api.call('GET', '/api/v1/orders', { token: buyer.token })).status).toBe(200),
      15_000,
    );
    await place(seller, 'sell', 7);
    await place(buyer, 'buy', 7);

    // Exactly the committed sequence, once each, in order: nothing lost to the restart.
    await eventually(async () => {
      const committed = await committedSeqs(buyer.accountId);
      expect(accountFrames(feed).map((f) => f.seq)).toEqual(committed);
    }, 20_000);
    const fills = accountFrames(feed)
      .filter((f) => typeof f.fill_id === 'string')
      .map((f) => ({ fillId: f.fill_id as string, orderId: f.order_id as string }));
    expect(await auditDeliveries(fx.database.db, { accountIds: [buyer.accountId], feed: fills })).toEqual([]);
    expect(fills).toHaveLength(2);
  }, 90_000);

  it('a feed and cable started while Redis is down subscribe to revocations once it is back', async () => {
    const user = await createFundedUser(fx.api, '0.00');
    const lines: string[] = [];
    const logger = createLogger('error', {}, { write: (line: string) => void lines.push(line) });
    await redis.stop();
    // Revalidation an hour away: only the revocation event can close the sockets below.
    const options = { revalidateMs: 3_600_000, revocationRetryMs: 50, revocationRetryMaxMs: 200 };
    const late = await serveWithFeed(fx.api.app, { ...fx.api.deps, logger }, options, 0, options);
    let socket: FeedClient | undefined;
    try {
      await eventually(
        async () => expect(lines.join('')).toContain('revocation subscription failed'),
        15_000,
      );
      await redis.start();
      socket = await eventually(() => connectFeed(late.url, { token: user.token }), 15_000);
      const cable = await connectCable(`${late.cableUrl}?token=${user.token}`);
      await cable.next((m) => m.type === 'welcome');
      // This file's first feed and cable (resubscribed by ioredis) and the late ones listen again.
      const channel = revocationChannel(fx.config.REDIS_PREFIX);
      await eventually(
        async () => expect(await fx.api.deps.redis.pubsub('NUMSUB', channel)).toEqual([channel, 4]),
        15_000,
      );
      expect((await fx.api.call('POST', '/api/v1/auth/logout', { token: user.token })).status).toBe(200);
      expect((await socket.closed).code).toBe(CloseCode.SessionRevoked);
      expect(await cable.next((m) => m.type === 'disconnect')).toMatchObject({ reason: 'unauthorized' });
    } finally {
      await socket?.close();
      await late.close();
    }
  }, 60_000);
});
