/**
 * The outbox's retention (docs/adr/0043-outbox-retention.md): one prune of the relay, batch after batch,
 * deletes the done market data and the done account events older than OUTBOX_RETENTION_DAYS, and nothing
 * else (recent done events, pending and dead rows stay); then the auditor (runAudit, `npm run audit`)
 * finds nothing, while with a longer retention it finds the events gone; a feed client resuming within
 * the retention reads every event after its seq. The running relay prunes on its timer
 * (OUTBOX_PRUNE_INTERVAL_SECONDS).
 */
import { randomUUID } from 'node:crypto';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresHistory } from '../../api/ws/history.js';
import { formatFinding, runAudit } from '../../db/audit.js';
import { outboxJson } from '../../db/queries/outbox.js';
import { createLogger } from '../../lib/logger.js';
import { createMailer } from '../../lib/mailer.js';
import { connectRedis } from '../../lib/redis.js';
import { EventType } from '../../temporal/events.js';
import { eventually, startTradingFixture, type TradingFixture } from '../../test/trading.js';
import { createFundedUser } from '../../test/users.js';
import { createOutboxRelay } from './relay.js';

let fx: TradingFixture;
beforeAll(async () => {
  // The fixture's relay prunes every 200 ms while it runs.
  fx = await startTradingFixture('prune', { env: { OUTBOX_PRUNE_INTERVAL_SECONDS: '0.2' } });
}, 120_000);
afterAll(async () => {
  if (!fx) return;
  expect(await fx.imbalances()).toEqual([]);
  await fx.close();
});

const order = (direction: 'buy' | 'sell', quantity: number, price: string) => ({
  order: { symbol: 'MSFT', order_type: 'limit', direction, quantity, price, time_in_force: 'GTC' },
});

/** `n` order.accepted events of the account (orders that exist only here), enqueued as the reserve does. */
async function accepted(accountId: string, n: number): Promise<{ id: string; seq: number }[]> {
  const events = outboxJson(
    Array.from({ length: n }, () => ({
      accountId,
      eventType: EventType.OrderAccepted,
      payload: {
        order_id: randomUUID(),
        client_order_id: `prune-${randomUUID()}`,
        symbol: 'MSFT',
        side: 'buy' as const,
        order_type: 'limit' as const,
        time_in_force: 'GTC' as const,
        quantity: '1',
        price: '42000',
        stop_price: null,
        ts: new Date().toISOString(),
      },
    })),
  );
  await fx.database.sql`SELECT enqueue_events(${events}::jsonb, false)`;
  const rows = await fx.database.sql<{ id: string; seq: string }[]>`
    SELECT id, account_seq::text AS seq FROM outbox WHERE account_id = ${accountId}::uuid
    ORDER BY account_seq DESC LIMIT ${n}`;
  return rows.reverse().map((r) => ({ id: r.id, seq: Number(r.seq) }));
}

/** A market update of its own symbol, with the status and age given. */
async function marketRow(status: 'pending' | 'done' | 'dead', ageDays = 0): Promise<string> {
  const [row] = await fx.database.sql<{ id: string }[]>`
    INSERT INTO outbox (event_type, payload, status, created_at)
    VALUES ('market.update', '{"symbol": "PRUNETEST", "quote": null, "depth": null, "trades": [], "ts": "2026-12-02T00:00:00Z"}'::jsonb,
      ${status}, now() - make_interval(days => ${ageDays}::int))
    RETURNING id`;
  return row!.id;
}

const statuses = async () =>
  new Map(
    (await fx.database.sql<{ id: string; status: string }[]>`SELECT id, status FROM outbox`).map((r) => [
      r.id,
      r.status,
    ]),
  );

describe('pruning the outbox', () => {
  it('deletes the done market data and the done events past the retention, nothing else; the audit finds nothing', async () => {
    // A trade, relayed; then its parties' events and the trade are 8 days old, the seller's first event dead.
    const seller = await createFundedUser(fx.api, '0.00', { MSFT: 5n });
    const buyer = await createFundedUser(fx.api, '5000.00');
    const place = async (token: string, body: ReturnType<typeof order>) =>
      expect((await fx.api.call('POST', '/api/v1/orders', { token, body })).status).toBe(201);
    await place(seller.token, order('sell', 5, '420.00'));
    await place(buyer.token, order('buy', 5, '420.00'));
    await eventually(async () => {
      const [row] = await fx.database.sql<{ trades: number; undone: number }[]>`
        SELECT (SELECT count(*)::int FROM trades WHERE sell_account_id = ${seller.accountId}::uuid) AS trades,
               (SELECT count(*)::int FROM outbox WHERE status = 'pending') AS undone`;
      expect(row).toEqual({ trades: 1, undone: 0 });
    }, 30_000);
    const relay = fx.stack.relay;
    await relay.stop();
    const redis = connectRedis(fx.config.REDIS_URL, 'test-prune');
    const mailer = createMailer(fx.config.SMTP_URL, fx.config.MAIL_FROM);
    try {
      const parties = [buyer.accountId, seller.accountId];
      await fx.database.sql`
        UPDATE trades SET executed_at = executed_at - interval '8 days' WHERE sell_account_id = ${seller.accountId}::uuid`;
      await fx.database.sql`
        UPDATE outbox SET created_at = created_at - interval '8 days' WHERE account_id = ANY(${parties}::uuid[])`;
      const [dead] = await fx.database.sql<{ id: string }[]>`
        UPDATE outbox SET status = 'dead' WHERE account_id = ${seller.accountId}::uuid AND account_seq = 1
        RETURNING id`;
      const oldDone = (
        await fx.database.sql<{ id: string }[]>`
          SELECT id FROM outbox WHERE account_id = ANY(${parties}::uuid[]) AND status = 'done'`
      ).map((r) => r.id);
      // The seller's next events: one 8 days old and still pending, one recent and done, one recent and
      // pending.
      const [oldPending, recentDone, recentPending] = await accepted(seller.accountId, 3);
      await fx.database.sql`
        UPDATE outbox SET created_at = created_at - interval '8 days' WHERE id = ${oldPending!.id}::uuid`;
      await fx.database.sql`UPDATE outbox SET status = 'done' WHERE id = ${recentDone!.id}::uuid`;
      const market = {
        done: await marketRow('done'),
        oldDone: await marketRow('done', 8),
        pending: await marketRow('pending'),
        dead: await marketRow('dead', 8),
      };

      const before = await statuses();
      const expired = await fx.database.sql<{ id: string }[]>`
        SELECT id FROM outbox WHERE status = 'done' AND (account_id IS NULL OR created_at < now() - interval '7 days')`;
      const gone = new Set(expired.map((r) => r.id));
      for (const id of [...oldDone, market.done, market.oldDone]) expect(gone.has(id)).toBe(true);
      expect(oldDone.length).toBeGreaterThan(3);

      // One prune, in batches of 2 of each kind.
      const registry = new Registry();
      const pruner = createOutboxRelay({
        sql: fx.database.sql,
        redis,
        temporal: fx.temporal,
        mailer,
        logger: createLogger('error'),
        registry,
        redisPrefix: fx.config.REDIS_PREFIX,
        pruneBatchSize: 2,
      });
      expect(await pruner.prune()).toBe(gone.size);
      const pruned = (await registry.getSingleMetric('outbox_rows_pruned_total')!.get()).values;
      expect(pruned.reduce((n, v) => n + v.value, 0)).toBe(gone.size);

      const after = await statuses();
      expect(after).toEqual(new Map([...before].filter(([id]) => !gone.has(id))));
      expect(
        [dead!.id, oldPending!.id, recentDone!.id, recentPending!.id].map((id) => after.get(id)),
      ).toEqual(['dead', 'pending', 'done', 'pending']);
      expect([market.pending, market.dead].map((id) => after.get(id))).toEqual(['pending', 'dead']);

      // Within the retention every invariant holds; with a longer one, the events deleted are missing.
      expect((await runAudit(fx.database.db)).map(formatFinding)).toEqual([]);
      const longer = await runAudit(fx.database.db, {
        outboxRetentionDays: 9,
        only: ['fill_outbox_count', 'outbox_sequence_gap'],
      });
      expect(longer.filter((f) => f.check === 'outbox_sequence_gap').map((f) => f.subject)).toEqual([
        `account ${seller.accountId}`,
      ]);
      expect(longer.filter((f) => f.check === 'fill_outbox_count').map((f) => f.detail)).toEqual([
        '0 execution reports in the outbox, expected 1',
        '0 execution reports in the outbox, expected 1',
      ]);
      const audit = (env: Record<string, string>) => fx.script('scripts/audit.ts', [], env);
      const clean = await audit({});
      expect(clean.code).toBe(0);
      expect(clean.stdout).toMatch(/^0 findings in /);
      const strict = await audit({ OUTBOX_RETENTION_DAYS: '9' });
      expect(strict.code).toBe(1);
      expect(strict.stdout).toContain(`outbox_sequence_gap: account ${seller.accountId}`);

      // A feed client resuming within the retention reads every event after its seq; from before it,
      // the events left.
      const history = postgresHistory(fx.database);
      const seqs = async (since: number) =>
        (await history.eventsAfter(seller.accountId, since, 100)).map((e) => e.seq);
      expect(await seqs(oldPending!.seq)).toEqual([recentDone!.seq, recentPending!.seq]);
      expect(await seqs(0)).toEqual([1, oldPending!.seq, recentDone!.seq, recentPending!.seq]);
    } finally {
      mailer.close();
      await redis.quit();
      await relay.start();
    }
  });

  it('the running relay prunes on its timer', async () => {
    const metric = async () =>
      (await fx.stack.registry.getSingleMetric('outbox_rows_pruned_total')!.get()).values.find(
        (v) => v.labels.kind === 'market',
      )?.value ?? 0;
    const before = await metric();
    const id = await marketRow('done');
    await eventually(async () => expect((await statuses()).has(id)).toBe(false), 5_000);
    expect(await metric()).toBeGreaterThan(before);
  });
});
