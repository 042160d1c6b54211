/**
 * Operator controls as stored (docs/adr/0022-risk-controls-through-temporal.md): halts in
 * `instruments.status`, freezes in `accounts.status`, kill switches and risk limits in their tables, the
 * audit trail. Only the MarketControls workflow's activities write them, each change in one transaction
 * holding its scope's control lock exclusively; the order path reads them holding the locks shared, so
 * once a change committed no order placed under the old controls can still be accepted (nor a deposit or
 * withdrawal on a frozen account: funding holds the account's lock shared, `holdControlLockShared`).
 */
import { and, desc, eq, lt, sql, type SQL } from 'drizzle-orm';
import { prebuilt, type DbOrTx } from '../client.js';
import { accounts, adminAudit, instruments, killSwitches, riskLimits, unfinishedOrder } from '../schema.js';
import { orderFromRow, type InstrumentRow, type OrderRow } from './orders.js';

/** The market as a whole ('*'), one symbol, one account, or one user (suspensions). */
export type ControlScope = '*' | `symbol:${string}` | `account:${string}` | `user:${string}`;

/** A scope's lock key, from its name as text (a parameter, or built from an order's columns). */
const lockKeyOf = (scope: SQL) => sql`hashtextextended('brokerx:control:' || ${scope}, 0)`;
const lockKey = (scope: ControlScope) => lockKeyOf(sql`${scope}::text`);
const shared = (scope: SQL) => sql`pg_advisory_xact_lock_shared(${lockKeyOf(scope)})`;

/**
 * Order path, the shard accepting an order or a replace: the order by id, with the control locks of its
 * scopes (`*`, its symbol, its account) held shared, in one statement: it waits for control changes in
 * flight on them, and holds them until the transaction ends. A statement that starts after this one
 * (`orderFacts`, pipelined right behind it: shard/controls.ts `lockedOrderAndFacts`) sees every control
 * change that committed before the locks were granted.
 */
const lockedOrder = prebuilt<{ id: string }>(sql`
  SELECT o.*, (${shared(sql`'*'`)}, ${shared(sql`'symbol:' || o.symbol`)}, ${shared(sql`'account:' || o.account_id::text`)})
  FROM orders o WHERE o.id = ${sql.placeholder('id')}`);
export async function orderHoldingControlLocks(tx: DbOrTx, orderId: string): Promise<OrderRow | undefined> {
  const [row] = await lockedOrder(tx, { id: orderId });
  return row && orderFromRow(row);
}

/** Control change: exclusive, until the transaction ends (in-flight placements of the scope finish first). */
export async function holdControlLockExclusive(tx: DbOrTx, scope: ControlScope): Promise<void> {
  await tx.execute(sql`SELECT pg_advisory_xact_lock(${lockKey(scope)})`);
}

/**
 * Shared, until the transaction ends: waits for a control change in flight on the scope (a deposit or
 * withdrawal waits for a freeze of its account). A statement that starts after this one sees the change.
 */
export async function holdControlLockShared(tx: DbOrTx, scope: ControlScope): Promise<void> {
  await tx.execute(sql`SELECT ${shared(sql`${scope}::text`)}`);
}

export type RiskLimitsRow = typeof riskLimits.$inferSelect;

export interface ControlsInForce {
  instrumentStatus?: string;
  accountStatus?: string;
  /** The engaged kill switch that covers the symbol ('*' or the symbol), if any. */
  killSwitch?: string;
  limits?: RiskLimitsRow;
}

/** What an account has going, for its risk limits (the order being checked excluded). */
export interface RiskUsage {
  openOrders: number;
  position: bigint;
  openBuys: bigint;
  dailyNotional: bigint;
}

/** Everything an order's checks read: its instrument, its account, the controls and the account's usage. */
export interface OrderFacts {
  instrument?: InstrumentRow;
  account?: { status: string; kind: string };
  controls: ControlsInForce;
  /** Only when the account has a limit that needs it (open orders, position, daily notional). */
  usage?: RiskUsage;
  /**
   * Validation only: the reservation recorded with the order being validated (`exclude`), when its row is
   * stored already (its reserve committed in an earlier run of its saga's first workflow task).
   */
  recorded?: { reservedAmount: bigint; reservePrice: bigint };
}

/** One row of `orderFacts`' statement. */
type FactsRow = {
  symbol: string | null;
  name: string;
  tick_size: string;
  lot_size: string;
  reference_price: string;
  price_band_bps: number;
  instrument_status: string | null;
  instrument_created_at: string;
  account_status: string | null;
  account_kind: string | null;
  subject_account: string;
  kill_switch: string | null;
  max_order_notional: string | null;
  max_open_orders: number | null;
  max_position: string | null;
  max_daily_notional: string | null;
  limits_updated_at: string | null;
  open_orders: number | null;
  position: string | null;
  open_buys: string | null;
  daily: string | null;
  recorded_reserved_amount: string | null;
  recorded_reserve_price: string | null;
};

const usage = (expr: SQL) =>
  sql`CASE WHEN l.max_open_orders IS NOT NULL OR l.max_position IS NOT NULL OR l.max_daily_notional IS NOT NULL THEN (${expr}) END`;
/** An order not finished, as `orders_account_open_idx`'s predicate (db/schema.ts): the planner uses it. */
const unfinished = unfinishedOrder(sql`status`);
const since = sql.placeholder('since');
/**
 * The facts statement for a subject: one row s(symbol, account_id, exclude, recorded_reserved_amount,
 * recorded_reserve_price). Built once (`prebuilt`).
 * The usage reads index ranges of the account only: its unfinished orders (`orders_account_open_idx`)
 * and each side's trades since `since` (`trades_buy_account_idx`, `trades_sell_account_idx`).
 */
const factsOf = (subject: SQL) =>
  prebuilt<Record<string, string>, FactsRow>(sql`
    SELECT i.symbol, i.name, i.tick_size::text, i.lot_size::text, i.reference_price::text, i.price_band_bps,
           i.status AS instrument_status, i.created_at::text AS instrument_created_at,
           a.status AS account_status, a.kind AS account_kind, s.account_id::text AS subject_account,
           (SELECT scope FROM kill_switches WHERE scope IN ('*', s.symbol) ORDER BY scope LIMIT 1) AS kill_switch,
           l.max_order_notional::text, l.max_open_orders, l.max_position::text, l.max_daily_notional::text,
           l.updated_at::text AS limits_updated_at,
           ${usage(sql`SELECT count(*)::int FROM orders WHERE account_id = s.account_id AND id <> s.exclude
             AND ${unfinished}`)} AS open_orders,
           ${usage(sql`SELECT coalesce(sum(available + reserved), 0)::text FROM balances
             WHERE account_id = s.account_id AND asset = s.symbol`)} AS position,
           ${usage(sql`SELECT coalesce(sum(quantity - filled_quantity), 0)::text FROM orders
             WHERE account_id = s.account_id AND symbol = s.symbol AND side = 'buy' AND id <> s.exclude
               AND ${unfinished}`)} AS open_buys,
           ${usage(sql`SELECT coalesce(sum(price * quantity), 0)::text FROM (
             SELECT price, quantity FROM trades WHERE buy_account_id = s.account_id AND executed_at >= ${since}::timestamptz
             UNION ALL
             SELECT price, quantity FROM trades WHERE sell_account_id = s.account_id AND executed_at >= ${since}::timestamptz
           ) t`)} AS daily,
           s.recorded_reserved_amount, s.recorded_reserve_price
    FROM ${subject} s
      LEFT JOIN instruments i ON i.symbol = s.symbol
      LEFT JOIN accounts a ON a.id = s.account_id
      LEFT JOIN risk_limits l ON l.account_id = s.account_id`);
/**
 * Given symbol and account: an order being validated, left out of the usage by its id (`exclude`): a first
 * workflow task replayed after a crash validates again after its reserve stored the order pending. That
 * row's reservation comes with the facts (its primary key, in the same statement), for validation to
 * return it as recorded.
 */
const factsOfGiven = factsOf(
  sql`(SELECT g.symbol, g.account_id, g.exclude, o.reserved_amount::text AS recorded_reserved_amount,
      o.reserve_price::text AS recorded_reserve_price
    FROM (SELECT ${sql.placeholder('symbol')}::text AS symbol, ${sql.placeholder('accountId')}::uuid AS account_id,
      ${sql.placeholder('exclude')}::uuid AS exclude) g
    LEFT JOIN orders o ON o.id = g.exclude AND o.account_id = g.account_id)`,
);
/** A stored order's symbol and account, the order left out of the usage (its reservation not read). */
const factsOfStored = factsOf(
  sql`(SELECT symbol, account_id, id AS exclude, NULL::text AS recorded_reserved_amount,
    NULL::text AS recorded_reserve_price FROM orders WHERE id = ${sql.placeholder('orderId')})`,
);

/** No order: the id `exclude` takes when no order is left out of the usage. */
const NO_ORDER = '00000000-0000-0000-0000-000000000000';

/**
 * The facts for an order of `accountId` in `symbol` (`exclude`: the id of the order being validated), or
 * for the stored order `orderId` (whose symbol and account the statement reads), in one statement: the
 * instrument row, the account's status and kind, the kill switch, the account's risk limits and, only
 * when those limits need it (the CASE leaves the sums unevaluated otherwise), its usage: open orders and
 * open buys (other than that order), its position in the symbol, and the notional it traded since
 * `since`; with `exclude`, that order's reservation when its row is stored (`recorded`). No stored order
 * (`orderId`): no facts.
 */
export async function orderFacts(
  db: DbOrTx,
  p: ({ symbol: string; accountId: string; exclude?: string } | { orderId: string }) & { since: Date },
): Promise<OrderFacts> {
  const [row] =
    'orderId' in p
      ? await factsOfStored(db, { orderId: p.orderId, since: p.since.toISOString() })
      : await factsOfGiven(db, {
          symbol: p.symbol,
          accountId: p.accountId,
          exclude: p.exclude ?? NO_ORDER,
          since: p.since.toISOString(),
        });
  const big = (v: string | null | undefined) => (v === null || v === undefined ? null : BigInt(v));
  if (!row) return { controls: {} };
  return {
    instrument:
      row.symbol === null
        ? undefined
        : {
            symbol: row.symbol,
            name: row.name,
            tickSize: BigInt(row.tick_size),
            lotSize: BigInt(row.lot_size),
            referencePrice: BigInt(row.reference_price),
            priceBandBps: row.price_band_bps,
            status: row.instrument_status as InstrumentRow['status'],
            createdAt: new Date(row.instrument_created_at),
          },
    account:
      row.account_status === null || row.account_kind === null
        ? undefined
        : { status: row.account_status, kind: row.account_kind },
    controls: {
      instrumentStatus: row.instrument_status ?? undefined,
      accountStatus: row.account_status ?? undefined,
      killSwitch: row.kill_switch ?? undefined,
      limits:
        row.limits_updated_at === null
          ? undefined
          : {
              accountId: row.subject_account,
              maxOrderNotional: big(row.max_order_notional),
              maxOpenOrders: row.max_open_orders,
              maxPosition: big(row.max_position),
              maxDailyNotional: big(row.max_daily_notional),
              updatedAt: new Date(row.limits_updated_at),
            },
    },
    usage:
      row.open_orders === null
        ? undefined
        : {
            openOrders: row.open_orders,
            position: BigInt(row.position ?? '0'),
            openBuys: BigInt(row.open_buys ?? '0'),
            dailyNotional: BigInt(row.daily ?? '0'),
          },
    recorded:
      row.recorded_reserved_amount === null || row.recorded_reserve_price === null
        ? undefined
        : {
            reservedAmount: BigInt(row.recorded_reserved_amount),
            reservePrice: BigInt(row.recorded_reserve_price),
          },
  };
}

// ---- writes (the control workflow's activities only) ----------------------------------------------

export async function setInstrumentStatus(
  tx: DbOrTx,
  symbol: string,
  status: 'trading' | 'halted',
): Promise<boolean> {
  const rows = await tx
    .update(instruments)
    .set({ status })
    .where(and(eq(instruments.symbol, symbol), sql`${instruments.status} <> 'closed'`))
    .returning({ symbol: instruments.symbol });
  return rows.length > 0;
}

export async function setAccountFrozen(tx: DbOrTx, accountId: string, frozen: boolean): Promise<boolean> {
  const rows = await tx
    .update(accounts)
    .set({ status: frozen ? 'frozen' : 'active' })
    .where(and(eq(accounts.id, accountId), eq(accounts.kind, 'client'), sql`${accounts.status} <> 'closed'`))
    .returning({ id: accounts.id });
  return rows.length > 0;
}

export async function instrumentExists(db: DbOrTx, symbol: string): Promise<boolean> {
  const rows = await db
    .select({ s: instruments.symbol })
    .from(instruments)
    .where(eq(instruments.symbol, symbol));
  return rows.length > 0;
}

export async function clientAccountExists(db: DbOrTx, accountId: string): Promise<boolean> {
  const rows = await db
    .select({ id: accounts.id })
    .from(accounts)
    .where(and(eq(accounts.id, accountId), eq(accounts.kind, 'client')));
  return rows.length > 0;
}

export async function engageKillSwitch(
  tx: DbOrTx,
  p: { scope: string; at: Date; by: string; reason: string },
): Promise<void> {
  await tx
    .insert(killSwitches)
    .values({ scope: p.scope, engagedAt: p.at, engagedBy: p.by, reason: p.reason })
    .onConflictDoNothing();
}

export async function releaseKillSwitch(tx: DbOrTx, scope: string): Promise<void> {
  await tx.delete(killSwitches).where(eq(killSwitches.scope, scope));
}

export async function listKillSwitches(db: DbOrTx) {
  return db.select().from(killSwitches).orderBy(killSwitches.scope);
}

export async function setRiskLimits(
  tx: DbOrTx,
  p: Omit<RiskLimitsRow, 'updatedAt'> & { at: Date },
): Promise<void> {
  const values = {
    maxOrderNotional: p.maxOrderNotional,
    maxOpenOrders: p.maxOpenOrders,
    maxPosition: p.maxPosition,
    maxDailyNotional: p.maxDailyNotional,
    updatedAt: p.at,
  };
  await tx
    .insert(riskLimits)
    .values({ accountId: p.accountId, ...values })
    .onConflictDoUpdate({ target: riskLimits.accountId, set: values });
}

export type AuditRow = typeof adminAudit.$inferSelect;

/** Record an action once (by its action id); false when it was already recorded (a retry). */
export async function insertAudit(tx: DbOrTx, row: Omit<AuditRow, 'id' | 'outcome'>): Promise<boolean> {
  const rows = await tx
    .insert(adminAudit)
    .values(row)
    .onConflictDoNothing({ target: adminAudit.actionId })
    .returning({ id: adminAudit.id });
  return rows.length > 0;
}

export async function setAuditOutcome(db: DbOrTx, actionId: string, outcome: unknown): Promise<void> {
  await db.update(adminAudit).set({ outcome }).where(eq(adminAudit.actionId, actionId));
}

/** The audit trail, newest first, keyset-paginated on id. */
export async function listAudit(db: DbOrTx, p: { limit: number; beforeId?: bigint }): Promise<AuditRow[]> {
  return db
    .select()
    .from(adminAudit)
    .where(p.beforeId === undefined ? undefined : lt(adminAudit.id, p.beforeId))
    .orderBy(desc(adminAudit.id))
    .limit(p.limit);
}

/** The controls in force, as stored: what GET /api/v1/admin/controls shows. */
export async function controlsInForce(db: DbOrTx) {
  const [halted, frozen, switches, limits] = await Promise.all([
    db.select({ symbol: instruments.symbol }).from(instruments).where(eq(instruments.status, 'halted')),
    db.select({ id: accounts.id }).from(accounts).where(eq(accounts.status, 'frozen')),
    listKillSwitches(db),
    db.select().from(riskLimits).orderBy(riskLimits.accountId),
  ]);
  return {
    halted: halted.map((r) => r.symbol).sort(),
    frozen: frozen.map((r) => r.id).sort(),
    killSwitches: switches,
    limits,
  };
}
