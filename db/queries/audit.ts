/**
 * The auditor's checks, one SQL query each. Every query returns the rows that break an invariant (none
 * when the books are sound), as `{ subject, detail }`. They read the whole database: run them on a
 * quiescent system (after a fault has settled, or `npm run audit` on a stopped or idle stack), since a
 * saga between two of its steps is a legitimate moment of imbalance between orders and reservations.
 *
 * What "should have" means for a reservation (activities/orders.ts reserves, db/queries/settlement.ts
 * consumes, releaseOrderReservation and the shard's close() give back):
 * - a resting order (working, partially_filled) holds its leaves: `leaves x reserve_price` cents for a
 *   buy, `leaves` shares for a sell;
 * - a terminal order (filled, cancelled, expired, rejected) holds nothing;
 * - a pending order (reserved and persisted, not yet accepted by the engine) holds its whole quantity,
 *   and is a finding of its own once older than the grace period: its saga is stuck half way;
 * - every (account, asset) balance's `reserved` is the sum of its orders' `reserved_amount`.
 *
 * The outbox keeps its done account events for the retention only (the relay deletes older ones,
 * docs/adr/0043-outbox-retention.md): its checks hold every event within it, and let older ones be gone.
 */
import { sql } from 'drizzle-orm';
import type { DbOrTx } from '../client.js';

export type AuditRow = {
  subject: string;
  detail: string;
};

export interface AuditQueryOptions {
  /** A pending order older than this (seconds) is reported as stuck. */
  pendingGraceSeconds: number;
  /** The outbox's retention (OUTBOX_RETENTION_DAYS): events older than this many days may be gone. */
  outboxRetentionDays: number;
}

type Check = (db: DbOrTx, o: AuditQueryOptions) => Promise<AuditRow[]>;

/** Check name -> query. The order here is the order of the report. */
export const AUDIT_CHECKS = {
  /** Every journal entry's postings sum to zero per asset, and an entry has postings at all. */
  entry_unbalanced: (db) =>
    db.execute<AuditRow>(sql`
      SELECT 'entry ' || e.id || ' (' || e.kind || ' ' || e.reference || ')' AS subject,
             coalesce(string_agg(s.asset || ' sums to ' || s.total, ', '), 'has no postings') AS detail
        FROM journal_entries e
        LEFT JOIN (SELECT entry_id, asset, sum(amount) AS total FROM postings GROUP BY 1, 2) s ON s.entry_id = e.id
       GROUP BY e.id, e.kind, e.reference
      HAVING count(s.asset) = 0 OR bool_or(s.total <> 0)
       ORDER BY e.id`),

  /** Every balance bucket equals the sum of its postings (and no postings without a balance row). */
  balance_mismatch: (db) =>
    db.execute<AuditRow>(sql`
      WITH held AS (
        SELECT account_id, asset, 'available' AS bucket, available AS amount FROM balances
        UNION ALL SELECT account_id, asset, 'reserved', reserved FROM balances),
      posted AS (SELECT account_id, asset, bucket, sum(amount) AS amount FROM postings GROUP BY 1, 2, 3)
      SELECT 'balance ' || coalesce(h.account_id, p.account_id) || ' ' || coalesce(h.asset, p.asset) || ' ' || coalesce(h.bucket, p.bucket) AS subject,
             'holds ' || coalesce(h.amount::text, 'no row') || ', postings sum to ' || coalesce(p.amount, 0) AS detail
        FROM held h FULL JOIN posted p USING (account_id, asset, bucket)
       WHERE coalesce(h.amount, 0) <> coalesce(p.amount, 0) OR h.amount IS NULL
       ORDER BY 1`),

  /** Nothing is created or destroyed: every asset sums to zero over all balances. */
  asset_not_conserved: (db) =>
    db.execute<AuditRow>(sql`
      SELECT 'asset ' || asset AS subject, 'balances sum to ' || sum(available + reserved) || ', not 0' AS detail
        FROM balances GROUP BY asset HAVING sum(available + reserved) <> 0 ORDER BY asset`),

  /** Each order holds the reservation its state calls for; pending ones do not stay pending. */
  order_reservation: (db, o) =>
    db.execute<AuditRow>(sql`
      WITH x AS (
        SELECT o.*, o.quantity - o.filled_quantity AS leaves,
               CASE WHEN o.side = 'buy' THEN o.reserve_price ELSE 1 END AS unit
          FROM orders o)
      SELECT 'order ' || id || ' (' || status || ')' AS subject,
             CASE
               WHEN status = 'pending' THEN 'still pending after ' || ${String(o.pendingGraceSeconds)}::text || ' s: its saga stopped half way'
               WHEN status = 'filled' AND filled_quantity <> quantity THEN 'filled ' || filled_quantity || ' of ' || quantity
               ELSE 'reserves ' || reserved_amount || ', should reserve ' ||
                    CASE WHEN status IN ('pending_trigger', 'working', 'partially_filled') THEN leaves * unit ELSE 0 END
             END AS detail
        FROM x
       WHERE (status = 'pending' AND created_at < now() - make_interval(secs => ${o.pendingGraceSeconds}::float8))
          OR (status = 'pending' AND reserved_amount <> quantity * unit)
          OR (status IN ('pending_trigger', 'working', 'partially_filled') AND reserved_amount <> leaves * unit)
          OR (status IN ('filled', 'cancelled', 'expired', 'rejected') AND reserved_amount <> 0)
          OR (status = 'filled' AND filled_quantity <> quantity)
       ORDER BY 1`),

  /** Reserved balances are exactly what the account's orders hold. */
  reserved_balance_mismatch: (db) =>
    db.execute<AuditRow>(sql`
      WITH held AS (
        SELECT account_id, CASE WHEN side = 'buy' THEN 'USD' ELSE symbol END AS asset, sum(reserved_amount) AS amount
          FROM orders GROUP BY 1, 2)
      SELECT 'reserved ' || coalesce(b.account_id, h.account_id) || ' ' || coalesce(b.asset, h.asset) AS subject,
             'balance holds ' || coalesce(b.reserved, 0) || ' reserved, its orders ' || coalesce(h.amount, 0) AS detail
        FROM (SELECT account_id, asset, reserved FROM balances WHERE reserved <> 0) b
        FULL JOIN (SELECT * FROM held WHERE amount <> 0) h USING (account_id, asset)
       WHERE coalesce(b.reserved, 0) <> coalesce(h.amount, 0)
       ORDER BY 1`),

  /** An order's filled quantity and notional are the sum of its trades: no fill missing or counted twice. */
  order_fills_mismatch: (db) =>
    db.execute<AuditRow>(sql`
      WITH t AS (
        SELECT order_id, sum(quantity) AS qty, sum(quantity * price) AS notional, count(*) AS n
          FROM (SELECT buy_order_id AS order_id, quantity, price FROM trades
                UNION ALL SELECT sell_order_id, quantity, price FROM trades) s
         GROUP BY order_id)
      SELECT 'order ' || o.id AS subject,
             'filled ' || o.filled_quantity || ' for ' || o.filled_notional || ' cents, its ' || coalesce(t.n, 0) ||
             ' trades ' || coalesce(t.qty, 0) || ' for ' || coalesce(t.notional, 0) AS detail
        FROM orders o LEFT JOIN t ON t.order_id = o.id
       WHERE o.filled_quantity <> coalesce(t.qty, 0) OR o.filled_notional <> coalesce(t.notional, 0)
       ORDER BY 1`),

  /** Every trade moved money exactly once: one 'trade' journal entry per trade. */
  trade_not_posted: (db) =>
    db.execute<AuditRow>(sql`
      SELECT 'trade ' || t.id AS subject, 'has no trade journal entry' AS detail
        FROM trades t LEFT JOIN journal_entries e ON e.kind = 'trade' AND e.reference = t.id::text
       WHERE e.id IS NULL
      UNION ALL
      SELECT 'journal entry ' || e.id, 'trade entry for unknown trade ' || e.reference
        FROM journal_entries e LEFT JOIN trades t ON t.id::text = e.reference
       WHERE e.kind = 'trade' AND t.id IS NULL
       ORDER BY 1`),

  /**
   * Every fill is in the outbox exactly once per side: one execution report for the buyer's order, one for
   * the seller's; a fill older than the retention may have none left.
   */
  fill_outbox_count: (db, o) =>
    db.execute<AuditRow>(sql`
      WITH sides AS (
        SELECT id AS trade_id, buy_order_id AS order_id, executed_at FROM trades
        UNION ALL SELECT id, sell_order_id, executed_at FROM trades),
      reports AS (
        SELECT payload->>'fill_id' AS trade_id, payload->>'order_id' AS order_id, count(*) AS n
          FROM outbox WHERE event_type = 'execution.report' AND payload->>'fill_id' IS NOT NULL
         GROUP BY 1, 2)
      SELECT 'fill ' || coalesce(s.trade_id::text, r.trade_id) || ' order ' || coalesce(s.order_id::text, r.order_id) AS subject,
             CASE WHEN s.trade_id IS NULL THEN r.n || ' execution reports for a fill that is not in trades'
                  ELSE coalesce(r.n, 0) || ' execution reports in the outbox, expected 1' END AS detail
        FROM sides s FULL JOIN reports r ON r.trade_id = s.trade_id::text AND r.order_id = s.order_id::text
       WHERE (coalesce(r.n, 0) <> 1 AND NOT (r.n IS NULL AND s.executed_at < now() - make_interval(days => ${o.outboxRetentionDays}::int)))
          OR s.trade_id IS NULL
       ORDER BY 1`),

  /**
   * Per-account outbox sequences have no gap (the live feed resumes by them): from the account's first event
   * within the retention (`first`) every seq up to the account's last is there once, and none beyond it.
   * Before `first` the events may be gone; an account without events within it has only such events.
   */
  outbox_sequence_gap: (db, o) =>
    db.execute<AuditRow>(sql`
      WITH events AS (
        SELECT account_id, account_seq,
               min(account_seq) FILTER (WHERE created_at >= now() - make_interval(days => ${o.outboxRetentionDays}::int))
                 OVER (PARTITION BY account_id) AS first
          FROM outbox WHERE account_id IS NOT NULL),
      held AS (
        SELECT account_id, min(first) AS first, max(account_seq) AS last,
               count(*) FILTER (WHERE account_seq >= first OR account_seq IS NULL) AS n
          FROM events GROUP BY account_id)
      SELECT 'account ' || s.account_id AS subject,
             'sequence at ' || s.last_seq || ', outbox holds ' || coalesce(h.n, 0) || ' events from ' ||
             coalesce(h.first, s.last_seq + 1) || ' up to ' || coalesce(h.last, 0) AS detail
        FROM account_sequences s LEFT JOIN held h ON h.account_id = s.account_id
       WHERE coalesce(h.last, 0) > s.last_seq
          OR (h.first IS NOT NULL AND h.last <> s.last_seq)
          OR coalesce(h.n, 0) <> s.last_seq + 1 - coalesce(h.first, s.last_seq + 1)
       ORDER BY 1`),
} satisfies Record<string, Check>;

export type AuditCheck = keyof typeof AUDIT_CHECKS;

/** One delivery of a fill to one order's owner: on the feed or by mail. */
export interface FillDelivery {
  fillId: string;
  orderId: string;
  accountId: string;
}

/**
 * The deliveries every fill calls for: one per side (buyer's order, seller's order). `accountIds`
 * narrows to some accounts (a test's subscribers); `mailable` keeps only accounts with a user to mail.
 */
export async function expectedFillDeliveries(
  db: DbOrTx,
  opts: { accountIds?: string[]; mailable?: boolean } = {},
): Promise<FillDelivery[]> {
  // One text parameter (drizzle expands a JS array into a parameter list).
  const ids = opts.accountIds ? opts.accountIds.join(',') : null;
  const rows = await db.execute<{ fill_id: string; order_id: string; account_id: string }>(sql`
    SELECT t.id::text AS fill_id, o.id::text AS order_id, o.account_id::text AS account_id
      FROM trades t JOIN orders o ON o.id IN (t.buy_order_id, t.sell_order_id)
      JOIN accounts a ON a.id = o.account_id
     WHERE (${ids}::text IS NULL OR o.account_id = ANY(string_to_array(${ids}::text, ',')::uuid[]))
       AND (NOT ${opts.mailable ?? false}::boolean OR a.user_id IS NOT NULL)
     ORDER BY t.executed_at, t.id, o.id`);
  return rows.map((r) => ({ fillId: r.fill_id, orderId: r.order_id, accountId: r.account_id }));
}
