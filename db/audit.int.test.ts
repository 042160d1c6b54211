/**
 * The auditor against a real database: zero findings after real trading through the api, the sagas,
 * a matching shard and the relay (mail included); then each kind of inconsistency planted in a
 * transaction that is rolled back afterwards, and the finding it must produce. Last, `npm run audit`
 * as users run it: exit 0 on the clean database, exit 1 and a readable line once something is planted.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, placeGtc, startTradingFixture, type TradingFixture } from '../test/trading.js';
import { createFundedUser, type FundedTestUser } from '../test/users.js';
import { mailSearchQuery } from '../test/helpers.js';
import type { DbOrTx } from './client.js';
import {
  auditDeliveries,
  fillOfMail,
  formatFinding,
  runAudit,
  type AuditCheck,
  type Finding,
} from './audit.js';

let fx: TradingFixture;
let buyer: FundedTestUser;
let seller: FundedTestUser;
/** Ids of the activity below. */
const ids = { resting: '', filled: '', partial: '', cancelled: '' };

const place = (u: FundedTestUser, order: Record<string, unknown>) => placeGtc(fx.api, u.token, order);

beforeAll(async () => {
  fx = await startTradingFixture('audit');
  [buyer, seller] = await Promise.all([
    createFundedUser(fx.api, '50000.00'),
    createFundedUser(fx.api, '0', { AAPL: 100n }),
  ]);
  // A sell rests, a bigger buy fills it and rests partially filled; a buy that rests; a cancelled sell.
  ids.filled = (await place(seller, { direction: 'sell', quantity: 10, price: '160.00' })).order_id;
  ids.partial = (await place(buyer, { direction: 'buy', quantity: 15, price: '160.50' })).order_id;
  ids.resting = (await place(buyer, { direction: 'buy', quantity: 3, price: '159.00' })).order_id;
  ids.cancelled = (await place(seller, { direction: 'sell', quantity: 4, price: '170.00' })).order_id;
  const cancel = await fx.api.call('DELETE', `/api/v1/orders/${ids.cancelled}`, { token: seller.token });
  expect(cancel.status).toBe(200);
  // Quiescent: the relay has published, signalled and mailed everything.
  await eventually(async () => {
    const [row] = await fx.database.db.execute<{ n: number }>(
      sql`SELECT count(*)::int AS n FROM outbox WHERE status <> 'done'`,
    );
    expect(row?.n).toBe(0);
  }, 30_000);
}, 180_000);

afterAll(async () => {
  await fx?.close();
});

/** Plant something in a transaction, audit inside it, roll it back. */
async function plantAndAudit(
  only: AuditCheck[],
  plant: (tx: DbOrTx) => Promise<unknown>,
): Promise<Finding[]> {
  let findings: Finding[] = [];
  const rollback = new Error('rollback');
  await fx.database.db
    .transaction(async (tx) => {
      await plant(tx);
      findings = await runAudit(tx, { only });
      throw rollback;
    })
    .catch((err: unknown) => {
      if (err !== rollback) throw err;
    });
  return findings;
}

describe('after real trading', () => {
  it('finds nothing', async () => {
    const [row] = await fx.database.db.execute<{ n: number }>(sql`SELECT count(*)::int AS n FROM trades`);
    expect(row?.n).toBe(1);
    expect((await runAudit(fx.database.db)).map(formatFinding)).toEqual([]);
  });

  it('finds every fill mailed once to each side, and reports a missing or repeated delivery', async () => {
    const fillMails = async (to: string) => {
      const res = await fetch(
        `${fx.config.MAILPIT_URL}/api/v1/search?query=${mailSearchQuery(to)}&limit=200`,
      );
      const list = (await res.json()) as { messages: { MessageID: string; Subject: string }[] };
      return list.messages
        .filter((m) => m.Subject.startsWith('BrokerX fill'))
        .map((m) => fillOfMail(m.MessageID)!);
    };
    const mails = await eventually(async () => {
      const all = [...(await fillMails(buyer.email)), ...(await fillMails(seller.email))];
      expect(all).toHaveLength(2);
      return all;
    }, 15_000);
    const accountIds = [buyer.accountId, seller.accountId];
    expect(await auditDeliveries(fx.database.db, { accountIds, mail: mails, feed: mails })).toEqual([]);
    const [first] = mails;
    const findings = await auditDeliveries(fx.database.db, { accountIds, feed: [first!, first!], mail: [] });
    expect(findings.map((f) => f.check).sort()).toEqual([
      'feed_duplicated',
      'feed_missing',
      'mail_missing',
      'mail_missing',
    ]);
    // A mail sent again (a relay killed before marking it sent) is no finding; a mail never sent is.
    const again = await auditDeliveries(fx.database.db, { accountIds, mail: [first!, first!] });
    expect(again.map((f) => f.check)).toEqual(['mail_missing']);
  });
});

describe('planted inconsistencies', () => {
  it('an unbalanced journal entry', async () => {
    const findings = await plantAndAudit(['entry_unbalanced'], (tx) =>
      tx.execute(sql`
        WITH e AS (INSERT INTO journal_entries (kind, reference) VALUES ('planted', 'unbalanced') RETURNING id)
        INSERT INTO postings (entry_id, account_id, asset, bucket, amount)
        SELECT id, ${buyer.accountId}::uuid, 'USD', 'available', 500 FROM e`),
    );
    expect(findings).toEqual([
      expect.objectContaining({ check: 'entry_unbalanced', detail: 'USD sums to 500' }),
    ]);
  });

  it('a balance that is not the sum of its postings, and money created', async () => {
    const findings = await plantAndAudit(['balance_mismatch', 'asset_not_conserved'], (tx) =>
      tx.execute(
        sql`UPDATE balances SET available = available + 7 WHERE account_id = ${buyer.accountId}::uuid AND asset = 'USD'`,
      ),
    );
    expect(findings.map(formatFinding)).toEqual([
      expect.stringMatching(
        new RegExp(
          `^balance_mismatch: balance ${buyer.accountId} USD available: holds \\d+, postings sum to \\d+$`,
        ),
      ),
      'asset_not_conserved: asset USD: balances sum to 7, not 0',
    ]);
  });

  it('a resting order without the reservation it should have, and a terminal one still holding some', async () => {
    const findings = await plantAndAudit(['order_reservation', 'reserved_balance_mismatch'], async (tx) => {
      await tx.execute(
        sql`UPDATE orders SET reserved_amount = reserved_amount - 100 WHERE id = ${ids.resting}::uuid`,
      );
      await tx.execute(sql`UPDATE orders SET reserved_amount = 2 WHERE id = ${ids.cancelled}::uuid`);
    });
    expect(findings).toHaveLength(4);
    expect(findings).toEqual(
      expect.arrayContaining([
        {
          check: 'order_reservation',
          subject: `order ${ids.cancelled} (cancelled)`,
          detail: 'reserves 2, should reserve 0',
        },
        {
          check: 'order_reservation',
          subject: `order ${ids.resting} (working)`,
          detail: 'reserves 47600, should reserve 47700',
        },
        {
          check: 'reserved_balance_mismatch',
          subject: `reserved ${buyer.accountId} USD`,
          detail: 'balance holds 127950 reserved, its orders 127850',
        },
        {
          check: 'reserved_balance_mismatch',
          subject: `reserved ${seller.accountId} AAPL`,
          detail: 'balance holds 0 reserved, its orders 2',
        },
      ]),
    );
  });

  it('an order left pending past the grace period (a saga stopped half way)', async () => {
    const findings = await plantAndAudit(['order_reservation'], (tx) =>
      tx.execute(sql`
        UPDATE orders SET status = 'pending', reserved_amount = quantity * reserve_price, created_at = now() - interval '2 minutes'
         WHERE id = ${ids.resting}::uuid`),
    );
    expect(findings).toEqual([
      {
        check: 'order_reservation',
        subject: `order ${ids.resting} (pending)`,
        detail: 'still pending after 60 s: its saga stopped half way',
      },
    ]);
  });

  it('a fill recorded twice in trades', async () => {
    const findings = await plantAndAudit(
      ['order_fills_mismatch', 'trade_not_posted', 'fill_outbox_count'],
      (tx) =>
        tx.execute(sql`
        INSERT INTO trades (id, symbol, buy_order_id, sell_order_id, buy_account_id, sell_account_id, maker_order_id,
          price, quantity, executed_at)
        SELECT gen_random_uuid(), symbol, buy_order_id, sell_order_id, buy_account_id, sell_account_id, maker_order_id,
          price, quantity, executed_at FROM trades`),
    );
    const checks = findings.map((f) => f.check);
    expect(checks.filter((c) => c === 'order_fills_mismatch')).toHaveLength(2); // the buyer's and the seller's order
    expect(checks.filter((c) => c === 'trade_not_posted')).toHaveLength(1);
    expect(checks.filter((c) => c === 'fill_outbox_count')).toHaveLength(2);
    expect(findings.find((f) => f.subject === `order ${ids.filled}`)?.detail).toBe(
      'filled 10 for 160000 cents, its 2 trades 20 for 320000',
    );
  });

  it('a fill missing from the outbox, one reported twice, and the sequence gap', async () => {
    const findings = await plantAndAudit(['fill_outbox_count', 'outbox_sequence_gap'], async (tx) => {
      await tx.execute(
        sql`DELETE FROM outbox WHERE event_type = 'execution.report' AND payload->>'order_id' = ${ids.filled} AND payload->>'fill_id' IS NOT NULL`,
      );
      await tx.execute(sql`
        INSERT INTO outbox (account_id, account_seq, event_type, payload, status)
        SELECT account_id, NULL, event_type, payload, status FROM outbox
         WHERE event_type = 'execution.report' AND payload->>'order_id' = ${ids.partial} AND payload->>'fill_id' IS NOT NULL`);
    });
    expect(findings.map((f) => [f.check, f.detail])).toEqual(
      expect.arrayContaining([
        ['fill_outbox_count', '0 execution reports in the outbox, expected 1'],
        ['fill_outbox_count', '2 execution reports in the outbox, expected 1'],
      ]),
    );
    expect(
      findings
        .filter((f) => f.check === 'outbox_sequence_gap')
        .map((f) => f.subject)
        .sort(),
    ).toEqual([`account ${buyer.accountId}`, `account ${seller.accountId}`].sort());
  });
});

describe('npm run audit', () => {
  // It asks the fixture's Temporal about the open orders' sagas (theirs run: no finding).
  const run = () => fx.script('scripts/audit.ts');

  it('exits 0 on sound books and 1 with one line per finding otherwise', async () => {
    const clean = await run();
    expect(clean.code).toBe(0);
    expect(clean.stdout).toMatch(/^0 findings in /);
    await fx.database.db.execute(
      sql`UPDATE orders SET reserved_amount = reserved_amount + 1 WHERE id = ${ids.resting}::uuid`,
    );
    const dirty = await run();
    expect(dirty.code).toBe(1);
    expect(dirty.stdout).toContain(
      `order_reservation: order ${ids.resting} (working): reserves 47701, should reserve 47700`,
    );
    expect(dirty.stdout).toMatch(/2 findings in /);
    await fx.database.db.execute(
      sql`UPDATE orders SET reserved_amount = reserved_amount - 1 WHERE id = ${ids.resting}::uuid`,
    );
  });
});
