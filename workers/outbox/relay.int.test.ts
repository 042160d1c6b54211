/**
 * The outbox relay and what it feeds: one fill confirmation mail per party per fill, also when the relay
 * processes the same rows again (a crash between sending and marking done), and also when a relay died
 * between taking the mail's key and sending; a Redis outage of any length delays a fill's rows, never
 * loses them; a row retried after its mail failed is not published again; market data over REST,
 * cached in Redis and invalidated by book changes; poison rows dead-lettered after their attempts, the
 * rows beside them relayed; rows marked done by the next claim; a row that arrives while a batch runs
 * claimed without waiting for a poll; a row written without NOTIFY (a new order's events, ADR 0037)
 * relayed by the poll.
 */
import { sql } from 'drizzle-orm';
import { Client, Connection } from '@temporalio/client';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../devstack/processes.js';
import { createLogger } from '../../lib/logger.js';
import { createMailer, type Mailer } from '../../lib/mailer.js';
import { connectRedis } from '../../lib/redis.js';
import { accountChannel, marketChannel } from '../../lib/redis-keys.js';
import { enqueueEventsCall, outboxJson } from '../../db/queries/outbox.js';
import { fillSignal } from '../../temporal/contracts.js';
import { EventType } from '../../temporal/events.js';
import { mailCount, waitForMail } from '../../test/helpers.js';
import { eventually, startTradingFixture, type TradingFixture } from '../../test/trading.js';
import { createFundedUser } from '../../test/users.js';
import { createOutboxRelay, type Relay } from './relay.js';

let fx: TradingFixture;
beforeAll(async () => {
  // The tests read the rows the relay marks done: its relay does not prune them meanwhile (./prune.int.test.ts).
  fx = await startTradingFixture('relay', { env: { OUTBOX_PRUNE_INTERVAL_SECONDS: '86400' } });
}, 120_000);
afterAll(async () => {
  if (!fx) return;
  expect(await fx.imbalances()).toEqual([]);
  await fx.close();
});

const order = (direction: 'buy' | 'sell', quantity: number, price: string, symbol = 'MSFT') => ({
  order: { symbol, order_type: 'limit', direction, quantity, price, time_in_force: 'GTC' },
});

describe('fill confirmations', () => {
  it('mail each party once per fill, even when the relay processes the same rows again', async () => {
    const seller = await createFundedUser(fx.api, '0.00', { MSFT: 5n });
    const buyer = await createFundedUser(fx.api, '5000.00');
    expect(
      (await fx.api.call('POST', '/api/v1/orders', { token: seller.token, body: order('sell', 5, '420.00') }))
        .status,
    ).toBe(201);
    expect(
      (await fx.api.call('POST', '/api/v1/orders', { token: buyer.token, body: order('buy', 5, '421.00') }))
        .status,
    ).toBe(201);
    const mail = await waitForMail(buyer.email, { subject: /fill/i });
    expect(mail.text).toMatch(/BUY 5 MSFT at 420\.00 USD/);
    await waitForMail(seller.email, { subject: /fill/i });

    // A relay that crashed after sending but before marking done sees the rows again.
    await eventually(async () => {
      const [row] = await fx.database.db.execute<{ n: number }>(
        sql`SELECT count(*)::int AS n FROM outbox WHERE status <> 'done'`,
      );
      expect(row!.n).toBe(0);
    });
    // Stopped, the fixture's relay has ended its batches: the one below, whose mails it awaits, is the
    // only one, so the mails counted after it are all there will be.
    await fx.stack.relay.stop();
    try {
      await fx.database.db.execute(sql`
        UPDATE outbox SET status = 'pending'
        WHERE event_type = 'execution.report' AND account_id IN (${buyer.accountId}::uuid, ${seller.accountId}::uuid)`);
      await fx.stack.relay.processBatch();
      expect(await mailCount(buyer.email, /fill/i)).toBe(1);
      expect(await mailCount(seller.email, /fill/i)).toBe(1);
    } finally {
      await fx.stack.relay.start();
    }
  });

  it('mail a fill whose key a relay took but died before sending; not one an earlier build sent', async () => {
    // The relay's key for a fill's mail to one order's owner (`mailKey`, ./relay.ts).
    const key = (r: { fill_id: string; order_id: string }) =>
      `${fx.config.REDIS_PREFIX}mail:fill:${r.fill_id}:${r.order_id}`;
    const redis = connectRedis(fx.config.REDIS_URL, 'test-relay-mail-keys');
    const relay = fx.stack.relay;
    await relay.stop();
    try {
      const { buyer, seller, rows: reports } = await fill('430.00');
      const buyers = reports.find((r) => r.account_id === buyer.accountId)!;
      const sellers = reports.find((r) => r.account_id === seller.accountId)!;
      // The buyer's key as a relay that died before sending left it; the seller's as an earlier build
      // wrote it (the row id) for a mail it sent.
      await redis.set(key(buyers), 'sending', 'EX', 3600);
      await redis.set(key(sellers), sellers.id, 'EX', 3600);
      await relay.processBatch();
      const mail = await waitForMail(buyer.email, { subject: /fill/i });
      expect(mail.text).toMatch(/BUY 5 MSFT at 430\.00 USD/);
      expect(await redis.get(key(buyers))).toBe('sent');
      // The fixture's relay is stopped: the batch above, whose mails it awaited, was the only one.
      expect(await mailCount(buyer.email, /fill/i)).toBe(1);
      expect(await mailCount(seller.email, /fill/i)).toBe(0);
    } finally {
      await redis.quit();
      await relay.start();
    }
  });
});

/** A relay beside the fixture's, on its database, with the Redis, mailer and Temporal client given. */
function relayWith(redis: Redis, mailer: Mailer, temporal: Client = fx.temporal): Relay {
  return createOutboxRelay({
    sql: fx.database.sql,
    redis,
    temporal,
    mailer,
    logger: createLogger('error'),
    registry: new Registry(),
    redisPrefix: fx.config.REDIS_PREFIX,
  });
}

/** A seller's resting order filled by a buyer's; resolves with their fill reports' outbox rows. */
async function fill(price: string) {
  const seller = await createFundedUser(fx.api, '0.00', { MSFT: 5n });
  const buyer = await createFundedUser(fx.api, '5000.00');
  const place = async (token: string, body: ReturnType<typeof order>) =>
    expect((await fx.api.call('POST', '/api/v1/orders', { token, body })).status).toBe(201);
  await place(seller.token, order('sell', 5, price));
  await place(buyer.token, order('buy', 5, price));
  const rows = await eventually(async () => {
    const found = await fx.database.db.execute<{
      id: string;
      account_id: string;
      event_id: string;
      workflow_id: string;
      fill_id: string;
      order_id: string;
    }>(sql`
      SELECT id, account_id, payload->>'event_id' AS event_id, payload->>'workflow_id' AS workflow_id,
        payload->>'fill_id' AS fill_id, payload->>'order_id' AS order_id FROM outbox
      WHERE event_type = 'execution.report' AND payload->>'fill_id' IS NOT NULL
        AND account_id IN (${buyer.accountId}::uuid, ${seller.accountId}::uuid)`);
    expect(found).toHaveLength(2);
    return found;
  });
  return {
    seller,
    buyer,
    rows,
    ids: rows.map((r) => r.id),
    eventIds: rows.map((r) => r.event_id),
    sellers: rows.find((r) => r.account_id === seller.accountId)!,
  };
}

/**
 * A fill's two rows, once the services are back, are delivered: both rows done, the maker's saga
 * signalled once, one mail to each side. A row is marked done by the claim after the batch that relayed
 * it, which awaited its signal and mail; a row done is never claimed again: nothing of it is on its way.
 */
async function deliveredOnce(f: Awaited<ReturnType<typeof fill>>) {
  await eventually(async () => {
    expect((await rowsOf(f.ids)).map((r) => r.status)).toEqual(['done', 'done']);
  }, 10_000);
  expect(await fillSignals(f.sellers.workflow_id)).toBe(1);
  expect(await mailCount(f.seller.email, /fill/i)).toBe(1);
  expect(await mailCount(f.buyer.email, /fill/i)).toBe(1);
}

/** The fill signals a saga received. */
async function fillSignals(workflowId: string): Promise<number> {
  const history = await fx.temporal.workflow.getHandle(workflowId).fetchHistory();
  return (history.events ?? []).filter(
    (e) => e.workflowExecutionSignaledEventAttributes?.signalName === fillSignal.name,
  ).length;
}

/** Failed rows as their backoff's end finds them: due now (the tests do not wait out minutes of backoff). */
const due = () =>
  fx.database.db.execute(
    sql`UPDATE outbox SET retry_at = NULL WHERE status = 'pending' AND retry_at IS NOT NULL`,
  );

const rowsOf = (ids: string[]) =>
  fx.database.sql<{ status: string; attempts: number }[]>`
    SELECT status, attempts FROM outbox WHERE id = ANY(${ids}::uuid[])`;

describe('failures that are not the row', () => {
  it("a Redis outage's attempts leave a fill's rows pending; once Redis is back, one signal and one mail each", async () => {
    await fx.stack.relay.stop();
    // A Redis that is down: nothing listens on the port. The client fails a command at the first
    // connection that fails (the relay's tries a few times first): each attempt fails in a moment.
    const down = new Redis(await freePort(), '127.0.0.1', {
      maxRetriesPerRequest: 0,
      retryStrategy: () => 50,
    });
    down.on('error', () => undefined);
    const mailer = createMailer(fx.config.SMTP_URL, fx.config.MAIL_FROM);
    let f: Awaited<ReturnType<typeof fill>>;
    try {
      f = await fill('440.00');
      const relay = relayWith(down, mailer);
      // 12 attempts: with the backoff between them (2 s doubling up to 5 minutes), 23 minutes of outage.
      for (let attempt = 1; attempt <= 12; attempt++) {
        await due();
        await relay.processBatch();
      }
      expect(await rowsOf(f.ids)).toEqual([
        { status: 'pending', attempts: 12 },
        { status: 'pending', attempts: 12 },
      ]);
      expect(await fillSignals(f.sellers.workflow_id)).toBe(0);
    } finally {
      down.disconnect();
      mailer.close();
      await due();
      await fx.stack.relay.start();
    }
    // Redis is back: the fixture's relay delivers the rows at their next retry (due above).
    await deliveredOnce(f);
  });

  it("a Temporal outage leaves a fill's rows pending at any attempt; once it is back, one signal", async () => {
    await fx.stack.relay.stop();
    // A Temporal server that is down: nothing listens on the port. No retry interceptor: the signal
    // fails at once instead of after the client's retries.
    const connection = Connection.lazy({ address: `127.0.0.1:${await freePort()}`, interceptors: [] });
    const redis = connectRedis(fx.config.REDIS_URL, 'test-relay-temporal-down');
    const mailer = createMailer(fx.config.SMTP_URL, fx.config.MAIL_FROM);
    let f: Awaited<ReturnType<typeof fill>>;
    try {
      f = await fill('445.00');
      // The attempts of a long outage, driven directly: the next failure would be the dead-letter one.
      await fx.database.sql`UPDATE outbox SET attempts = 20 WHERE id = ANY(${f.ids}::uuid[])`;
      await relayWith(
        redis,
        mailer,
        new Client({ connection, namespace: fx.config.TEMPORAL_NAMESPACE }),
      ).processBatch();
      // The seller's report signals the seller's saga (the buyer's saga made the fill: no signal).
      expect(await rowsOf([f.sellers.id])).toEqual([{ status: 'pending', attempts: 21 }]);
    } finally {
      await connection.close();
      await redis.quit();
      mailer.close();
      await due();
      await fx.stack.relay.start();
    }
    await deliveredOnce(f);
  });

  it('a row retried after its mail failed is not published again', async () => {
    await fx.stack.relay.stop();
    // An SMTP server that is down: nothing listens on the port.
    const smtpDown = createMailer(`smtp://127.0.0.1:${await freePort()}`, fx.config.MAIL_FROM);
    const redis = connectRedis(fx.config.REDIS_URL, 'test-relay-published');
    const sub = connectRedis(fx.config.REDIS_URL, 'test-relay-published-sub');
    const published: string[] = [];
    sub.on('message', (_channel: string, message: string) => {
      published.push((JSON.parse(message) as { event_id: string }).event_id);
    });
    let f: Awaited<ReturnType<typeof fill>>;
    try {
      f = await fill('450.00');
      await sub.subscribe(
        accountChannel(fx.config.REDIS_PREFIX, f.seller.accountId),
        accountChannel(fx.config.REDIS_PREFIX, f.buyer.accountId),
      );
      await relayWith(redis, smtpDown).processBatch();
      // Published and signalled; the mails failed: the rows wait for their retry.
      expect(await rowsOf(f.ids)).toEqual([
        { status: 'pending', attempts: 1 },
        { status: 'pending', attempts: 1 },
      ]);
      await eventually(async () => expect(published.length).toBeGreaterThanOrEqual(2), 5_000);
    } finally {
      smtpDown.close();
      await redis.quit();
      await due();
      await fx.stack.relay.start();
    }
    try {
      await deliveredOnce(f);
      // Each account's feed got its fill report once.
      expect(f.eventIds.map((id) => published.filter((p) => p === id).length)).toEqual([1, 1]);
    } finally {
      await sub.quit();
    }
  });
});

describe('market data over REST', () => {
  it('quote and depth follow the book: cached, and fresh after every change', async () => {
    const maker = await createFundedUser(fx.api, '10000.00', { TSLA: 50n });
    const before = (await (await fx.api.call('GET', '/api/v1/market/tsla')).json()) as {
      quote: { ask: unknown };
    };
    expect(before.quote.ask).toBeNull();
    expect(
      (
        await fx.api.call('POST', '/api/v1/orders', {
          token: maker.token,
          body: order('sell', 7, '251.00', 'TSLA'),
        })
      ).status,
    ).toBe(201);
    expect(
      (
        await fx.api.call('POST', '/api/v1/orders', {
          token: maker.token,
          body: order('buy', 3, '249.50', 'TSLA'),
        })
      ).status,
    ).toBe(201);
    // The relay invalidates the cached answer when the book changes: the next read shows both sides.
    const market = await eventually(async () => {
      const m = (await (await fx.api.call('GET', '/api/v1/market/TSLA')).json()) as {
        quote: {
          bid: { price: number; quantity: number } | null;
          ask: { price: number; quantity: number } | null;
          spread: number | null;
        };
        depth: { bids: unknown[]; asks: unknown[] };
      };
      expect(m.quote.ask).not.toBeNull();
      expect(m.quote.bid).not.toBeNull();
      return m;
    });
    expect(market.quote).toMatchObject({
      bid: { price: 249.5, quantity: 3 },
      ask: { price: 251, quantity: 7 },
      spread: 1.5,
    });
    expect(market.depth.asks).toHaveLength(1);

    const taker = await createFundedUser(fx.api, '10000.00');
    expect(
      (
        await fx.api.call('POST', '/api/v1/orders', {
          token: taker.token,
          body: order('buy', 2, '251.00', 'TSLA'),
        })
      ).status,
    ).toBe(201);
    await eventually(async () => {
      const t = (await (await fx.api.call('GET', '/api/v1/market/TSLA/trades')).json()) as {
        trades: { price: number; quantity: number }[];
      };
      expect(t.trades[0]).toMatchObject({ price: 251, quantity: 2 });
      const m = (await (await fx.api.call('GET', '/api/v1/market/TSLA')).json()) as {
        quote: { ask: { quantity: number } };
      };
      expect(m.quote.ask.quantity).toBe(5);
    });
  });

  it('an unknown symbol is 404 and a malformed one 422', async () => {
    expect((await fx.api.call('GET', '/api/v1/market/NOPE')).status).toBe(404);
    expect((await fx.api.call('GET', '/api/v1/market/no%20pe!')).status).toBe(422);
  });
});

describe('poison rows', () => {
  it('are retried with backoff and dead-lettered after their attempts, without blocking the others', async () => {
    const sub = connectRedis(fx.config.REDIS_URL, 'test-relay-poison');
    const published: string[] = [];
    sub.on('message', (_channel: string, message: string) => void published.push(message));
    try {
      await sub.subscribe(marketChannel(fx.config.REDIS_PREFIX, 'RELAYPOISON'));
      // In one statement, so in one batch: an execution report whose saga signal can never be sent (a
      // workflow id that is not a string) and a market update whose payload is JSON null, both at their
      // last attempt; the same market update at its first; and a market update that is fine.
      const rows = await fx.database.db.execute<{ id: string }>(sql`
        INSERT INTO outbox (event_type, payload, attempts) VALUES
          ('execution.report', '{"workflow_id": {"bad": true}, "order_id": "x", "status": "filled", "fill_id": "f"}'::jsonb, 9),
          ('market.update', 'null'::jsonb, 9),
          ('market.update', 'null'::jsonb, 0),
          ('market.update', '{"symbol": "RELAYPOISON", "quote": null, "depth": null, "trades": [], "ts": "2026-12-02T00:00:00Z"}'::jsonb, 0)
        RETURNING id`);
      const [badSignal, nullPayload, firstAttempt, good] = rows.map((r) => r.id);
      const row = async (id: string) =>
        (
          await fx.database.db.execute<{
            status: string;
            attempts: number;
            last_error: string | null;
            backoff: boolean;
          }>(sql`
            SELECT status, attempts, last_error, retry_at IS NOT NULL AS backoff FROM outbox WHERE id = ${id}::uuid`)
        )[0]!;
      await eventually(async () => {
        for (const poison of [badSignal!, nullPayload!]) {
          const r = await row(poison);
          expect(r.status).toBe('dead');
          expect(r.last_error).toBeTruthy();
        }
        expect((await row(good!)).status).toBe('done');
      }, 20_000);
      // Failed, and waiting for its retry time (or retried since: each attempt fails alike).
      const retried = await row(firstAttempt!);
      expect(retried).toMatchObject({ status: 'pending', backoff: true });
      expect(retried.attempts).toBeGreaterThanOrEqual(1);
      expect(published.map((m) => (JSON.parse(m) as { symbol: string }).symbol)).toEqual(['RELAYPOISON']);
    } finally {
      await sub.quit();
      // Its later attempts are no part of this file's other tests.
      await fx.database.db.execute(sql`UPDATE outbox SET status = 'dead' WHERE payload = 'null'::jsonb`);
    }
  });
});

describe('marking rows done', () => {
  it('the next claim marks a delivered batch done; a stopping relay marks its last batch', async () => {
    const relay = fx.stack.relay;
    await relay.stop();
    const status = async (id: string) =>
      (
        await fx.database.db.execute<{ status: string }>(
          sql`SELECT status FROM outbox WHERE id = ${id}::uuid`,
        )
      )[0]!.status;
    const insert = async () =>
      (
        await fx.database.db.execute<{ id: string }>(sql`
          INSERT INTO outbox (event_type, payload)
          VALUES ('market.update', '{"symbol": "RELAYTEST", "quote": null, "depth": null, "trades": [], "ts": "2026-12-02T00:00:00Z"}'::jsonb)
          RETURNING id`)
      )[0]!.id;
    try {
      const first = await insert();
      expect(await relay.processBatch()).toBeGreaterThanOrEqual(1);
      // Delivered, and no statement marked it yet: the relay's next claim does.
      expect(await status(first)).toBe('pending');
      await relay.processBatch();
      expect(await status(first)).toBe('done');

      const last = await insert();
      expect(await relay.processBatch()).toBeGreaterThanOrEqual(1);
      await relay.stop();
      expect(await status(last)).toBe('done');
    } finally {
      await relay.start();
    }
  });
});

describe('waking', () => {
  it('relays a row written without NOTIFY at its next poll', async () => {
    const sub = connectRedis(fx.config.REDIS_URL, 'test-relay-poll');
    const channel = marketChannel(fx.config.REDIS_PREFIX, 'RELAYPOLL');
    const published: string[] = [];
    sub.on('message', (_channel: string, message: string) => void published.push(message));
    try {
      await sub.subscribe(channel);
      // As the reserve step writes a new order's events: nothing wakes the relay (ADR 0037).
      const events = outboxJson([
        {
          accountId: null,
          eventType: EventType.MarketUpdate,
          payload: {
            symbol: 'RELAYPOLL',
            quote: null,
            depth: null,
            trades: [],
            ts: new Date().toISOString(),
          },
        },
      ]);
      await fx.database.db.execute(sql`SELECT ${enqueueEventsCall(sql`${events}`, { notify: false })}`);
      // The test stack's relay polls every 200 ms when nothing wakes it (test/stack.ts).
      await eventually(async () => expect(published).toHaveLength(1), 5_000);
      expect(JSON.parse(published[0]!)).toMatchObject({
        event_type: EventType.MarketUpdate,
        symbol: 'RELAYPOLL',
      });
    } finally {
      await sub.quit();
    }
  });

  it('claims a row whose NOTIFY came while a batch ran at once, not at the next poll', async () => {
    await fx.stack.relay.stop();
    // A relay that polls once a minute, whose Redis pipelines wait for `gate` once it is set: its batch
    // then runs as long as the test holds it. `held` counts the batches that reached the gate.
    let release = () => {};
    let gate: Promise<void> | undefined;
    let held = 0;
    const redis = connectRedis(fx.config.REDIS_URL, 'test-relay-waking');
    const gated = new Proxy(redis, {
      get(target, prop) {
        if (prop === 'pipeline')
          return () => {
            const pipeline = target.pipeline();
            const exec = pipeline.exec.bind(pipeline);
            pipeline.exec = async () => {
              if (gate) held++;
              await gate;
              return exec();
            };
            return pipeline;
          };
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const mailer = createMailer(fx.config.SMTP_URL, fx.config.MAIL_FROM);
    const relay = createOutboxRelay({
      sql: fx.database.sql,
      redis: gated,
      temporal: fx.temporal,
      mailer,
      logger: createLogger('warn'),
      registry: new Registry(),
      redisPrefix: fx.config.REDIS_PREFIX,
      pollMs: 60_000,
    });
    // A row and its NOTIFY, as enqueue_events sends it (delivered at commit).
    const insert = async () =>
      (
        await fx.database.db.execute<{ id: string }>(sql`
          WITH inserted AS (
            INSERT INTO outbox (event_type, payload)
            VALUES ('market.update', '{"symbol": "RELAYWAKE", "quote": null, "depth": null, "trades": [], "ts": "2026-12-02T00:00:00Z"}'::jsonb)
            RETURNING id
          )
          SELECT id, pg_notify('brokerx_outbox', '') FROM inserted`)
      )[0]!.id;
    const status = async (id: string) =>
      (
        await fx.database.db.execute<{ status: string }>(
          sql`SELECT status FROM outbox WHERE id = ${id}::uuid`,
        )
      )[0]!.status;
    try {
      await relay.start();
      // What earlier tests left pending is relayed first, ungated.
      await eventually(async () => {
        const [pending] = await fx.database.db.execute<{ n: number }>(
          sql`SELECT count(*)::int AS n FROM outbox WHERE status = 'pending' AND (retry_at IS NULL OR retry_at <= now())`,
        );
        expect(pending!.n).toBe(0);
      }, 10_000);
      await new Promise((resolve) => setTimeout(resolve, 300));
      gate = new Promise<void>((resolve) => (release = resolve));
      const first = await insert();
      await eventually(async () => expect(held).toBe(1), 5_000);
      // The relay holds `first` in its batch; `second` is committed and notified meanwhile.
      const second = await insert();
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(held).toBe(1);
      release();
      // Claimed well before the minute's poll, and that claim marked the first batch done.
      await eventually(async () => expect(held).toBe(2), 5_000);
      expect(await status(first)).toBe('done');
      expect(await status(second)).toBe('pending');
    } finally {
      release();
      await relay.stop();
      mailer.close();
      await redis.quit();
      await fx.stack.relay.start();
    }
  });
});
