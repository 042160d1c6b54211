/**
 * Settlement: everything one matching step changes, written in the caller's transaction (trades,
 * both orders' state, both accounts' cash, reservations and positions as ledger entries, outbox rows),
 * gathered while the step runs and written in one statement at its end.
 */
import { randomUUID } from 'node:crypto';
import { eq, sql, type SQL } from 'drizzle-orm';
import { postgresErrorCode, prebuilt, type DbOrTx } from '../client.js';
import { CASH_ASSET } from '../accounts.js';
import { matchingSequences, orders, trades } from '../schema.js';
import { postingsJson, type LedgerEntry } from './ledger.js';
import { enqueueEventsCall, outboxJson, type OutboxEvent } from './outbox.js';
import { orderFromRow, type OrderRow } from './orders.js';
import { insertOrderEventsSql, orderEventsJson, type OrderEventInput } from './timeline.js';

const lockOrdersById = prebuilt<{ ids: string }>(sql`
  SELECT * FROM ${orders} WHERE id = ANY(${sql.placeholder('ids')}::uuid[]) ORDER BY id FOR UPDATE`);

/** Lock the given orders (stable id order, so two steps never deadlock) and return them by id. */
export async function lockOrders(tx: DbOrTx, ids: string[]): Promise<Map<string, OrderRow>> {
  const unique = [...new Set(ids)].sort();
  if (unique.length === 0) return new Map();
  // Order ids are uuids: the array's text form needs no quoting.
  const rows = (await lockOrdersById(tx, { ids: `{${unique.join(',')}}` })).map(orderFromRow);
  return new Map(rows.map((r) => [r.id, r]));
}

/**
 * What a row the shard wrote back without reading it (its books hold it: shard/books.ts) must still
 * hold in Postgres when it is written: every other writer of an order (the saga's compensation) changes
 * one of these.
 */
export interface RowExpectation {
  status: string;
  lockVersion: number;
  filledQuantity: bigint;
  reservedAmount: bigint;
}

export const expectationOf = (o: OrderRow): RowExpectation => ({
  status: o.status,
  lockVersion: o.lockVersion,
  filledQuantity: o.filledQuantity,
  reservedAmount: o.reservedAmount,
});

export interface FillToSettle {
  buy: OrderRow;
  sell: OrderRow;
  makerOrderId: string;
  price: bigint;
  qty: bigint;
  executedAt: Date;
}

/**
 * Everything one shard operation writes, gathered while it runs (its reads come first) and written by
 * `writeSettlement` in one statement at its end (docs/adr/0028-settlement-as-one-statement.md).
 */
export interface SettlementWrites {
  trades: {
    id: string;
    symbol: string;
    buy: string;
    sell: string;
    buyAccount: string;
    sellAccount: string;
    maker: string;
    price: bigint;
    qty: bigint;
    at: Date;
  }[];
  /** Journal entries, in the order they were made, each dated by the operation's time (`LedgerEntry.at`). */
  entries: LedgerEntry[];
  /** The orders to write back, as they stand at the end of the operation. */
  orders: Map<string, OrderRow>;
  /** Of those, the ones written without being read, with what Postgres must still hold for each. */
  expected: Map<string, RowExpectation>;
  events: OutboxEvent[];
  timeline: OrderEventInput[];
  /** The symbol's sequence and, after a trade, its last price. */
  sequence?: { symbol: string; seq: number; lastPrice?: number };
}

export const settlementWrites = (): SettlementWrites => ({
  trades: [],
  entries: [],
  orders: new Map(),
  expected: new Map(),
  events: [],
  timeline: [],
});

/**
 * Record one trade and move cash and shares. The buyer's reservation was taken at `reservePrice` per
 * share; the fill consumes qty x reservePrice of it and releases the price improvement
 * qty x (reservePrice - price) back to available cash. The trade's journal entry is dated exactly as the
 * trade executed (`executedAt`, its executed_at), so the account statement places the trade in the period
 * its confirmation names.
 */
export function settleFill(w: SettlementWrites, f: FillToSettle): string {
  const tradeId = randomUUID();
  const symbol = f.buy.symbol;
  const consumed = f.qty * f.buy.reservePrice;
  const notional = f.qty * f.price;
  w.trades.push({
    id: tradeId,
    symbol,
    buy: f.buy.id,
    sell: f.sell.id,
    buyAccount: f.buy.accountId,
    sellAccount: f.sell.accountId,
    maker: f.makerOrderId,
    price: f.price,
    qty: f.qty,
    at: f.executedAt,
  });
  w.entries.push({
    kind: 'trade',
    reference: tradeId,
    at: f.executedAt,
    postings: [
      { accountId: f.buy.accountId, asset: CASH_ASSET, bucket: 'reserved', amount: -consumed },
      { accountId: f.buy.accountId, asset: CASH_ASSET, bucket: 'available', amount: consumed - notional },
      { accountId: f.sell.accountId, asset: CASH_ASSET, bucket: 'available', amount: notional },
      { accountId: f.sell.accountId, asset: symbol, bucket: 'reserved', amount: -f.qty },
      { accountId: f.buy.accountId, asset: symbol, bucket: 'available', amount: f.qty },
    ],
  });
  for (const [order, reservedUsed] of [
    [f.buy, consumed],
    [f.sell, f.qty],
  ] as const) {
    order.filledQuantity += f.qty;
    order.filledNotional += notional;
    order.reservedAmount -= reservedUsed;
  }
  return tradeId;
}

/** Write back the order's changed columns at the end of the operation (the in-memory row is the source). */
export function saveOrder(w: SettlementWrites, o: OrderRow, now: Date): void {
  o.updatedAt = now;
  w.orders.set(o.id, o);
}

/** Advance the symbol's sequence to `seq`; `lastPrice` when the operation traded (its last trade's price). */
export function saveSequence(w: SettlementWrites, symbol: string, seq: number, lastPrice?: number): void {
  w.sequence = { symbol, seq, lastPrice };
}

/**
 * Write what an operation gathered, in one statement: its journal entries (one \`post_entry\` call each,
 * in order, each dated at its \`at\`), its trades, its orders' rows, the symbol's sequence, its timeline
 * events and its outbox rows (\`enqueue_events\`). Every part travels as one JSON parameter, so the
 * statement's text is the same for every operation (one prepared statement; one more with a `fence`).
 * Inside the operation's transaction; a refused balance change fails the statement and with it the
 * operation. `fence`: a boolean expression evaluated in the same statement (the shard's ownership, when
 * these are its batch's last writes); the statement fails when it is not true (`shard_fence`, an error
 * that `isFenceLost` recognizes), so its transaction can be committed without waiting for its answer.
 * Nothing is awaited before the statement is sent: it is on the connection when this returns its promise,
 * ahead of whatever the caller sends next.
 */
export async function writeSettlement(tx: DbOrTx, w: SettlementWrites, fence?: SQL): Promise<void> {
  const json = (v: unknown) => JSON.stringify(v);
  const entries = json(
    w.entries.map((e) => ({
      kind: e.kind,
      reference: e.reference,
      memo: e.memo ?? null,
      postings: postingsJson(e),
      at: e.at?.toISOString() ?? null,
    })),
  );
  const tradeRows = json(
    w.trades.map((t) => ({
      id: t.id,
      symbol: t.symbol,
      buy_order_id: t.buy,
      sell_order_id: t.sell,
      buy_account_id: t.buyAccount,
      sell_account_id: t.sellAccount,
      maker_order_id: t.maker,
      price: t.price.toString(),
      quantity: t.qty.toString(),
      executed_at: t.at.toISOString(),
    })),
  );
  const orderRows = json(
    [...w.orders.values()].map((o) => ({
      ...expectedColumns(w.expected.get(o.id)),
      id: o.id,
      quantity: o.quantity.toString(),
      price: o.price?.toString() ?? null,
      reserve_price: o.reservePrice.toString(),
      time_in_force: o.timeInForce,
      expires_at: o.expiresAt?.toISOString() ?? null,
      stop_price: o.stopPrice?.toString() ?? null,
      triggered_at: o.triggeredAt?.toISOString() ?? null,
      filled_quantity: o.filledQuantity.toString(),
      filled_notional: o.filledNotional.toString(),
      status: o.status,
      reserved_amount: o.reservedAmount.toString(),
      lock_version: o.lockVersion,
      book_seq: o.bookSeq?.toString() ?? null,
      reject_reason: o.rejectReason,
      last_request_id: o.lastRequestId,
      updated_at: o.updatedAt.toISOString(),
    })),
  );
  const sequence = json(
    w.sequence
      ? [
          {
            symbol: w.sequence.symbol,
            last_seq: String(w.sequence.seq),
            last_price: w.sequence.lastPrice === undefined ? null : String(w.sequence.lastPrice),
          },
        ]
      : [],
  );
  await settlementStatement(fence)(tx, {
    entries,
    trades: tradeRows,
    orders: orderRows,
    sequence,
    timeline: orderEventsJson(w.timeline),
    events: outboxJson(w.events),
  });
}

/** A row's expectation as the statement's `expected_*` columns (null: the row was read and locked). */
const expectedColumns = (e: RowExpectation | undefined) => ({
  expected_status: e?.status ?? null,
  expected_lock_version: e?.lockVersion ?? null,
  expected_filled_quantity: e?.filledQuantity.toString() ?? null,
  expected_reserved_amount: e?.reservedAmount.toString() ?? null,
});

/**
 * The shard's fence as an expression that fails its statement, and so aborts its transaction, unless
 * `held` is true (`shard_fence`, migration 0011).
 */
export const fenceSql = (held: SQL) => sql`shard_fence(${held})`;

/** The SQLSTATE `shard_fence` raises. */
const FENCE_LOST = 'BXF01';

/** A statement failed because its fence did not hold: the shard's lock is lost. */
export const isFenceLost = (err: unknown): boolean => postgresErrorCode(err) === FENCE_LOST;

/**
 * `writeSettlement`'s statement, built once per fence (the fence's SQL is one object per process). Its
 * orders' rows are found by key (`o.id = ANY(ARRAY(SELECT id FROM given))`): the planner takes a record set
 * from JSON for 100 rows, and while the table's statistics put it at a few thousand rows or fewer it
 * hash-joins them against a scan of the whole orders table, a plan that a prepared statement then keeps
 * as the table grows (docs/adr/0028-settlement-as-one-statement.md).
 */
const settlementStatements = new WeakMap<SQL, ReturnType<typeof buildSettlement>>();
const buildSettlement = (fence?: SQL) =>
  prebuilt<Record<string, string>>(sql`
    WITH entries AS (
      SELECT post_entry(x.kind, x.reference, x.memo, x.postings, x.at) AS id
      FROM ROWS FROM (jsonb_to_recordset(${sql.placeholder('entries')}::jsonb) AS (kind text, reference text, memo text, postings jsonb,
        at timestamptz)) WITH ORDINALITY AS x(kind, reference, memo, postings, at, ord)
      ORDER BY x.ord
    ), traded AS (
      INSERT INTO ${trades} (id, symbol, buy_order_id, sell_order_id, buy_account_id, sell_account_id, maker_order_id,
        price, quantity, executed_at)
      SELECT x.id, x.symbol, x.buy_order_id, x.sell_order_id, x.buy_account_id, x.sell_account_id, x.maker_order_id,
        x.price, x.quantity, x.executed_at
      FROM jsonb_to_recordset(${sql.placeholder('trades')}::jsonb) AS x(id uuid, symbol text, buy_order_id uuid, sell_order_id uuid,
        buy_account_id uuid, sell_account_id uuid, maker_order_id uuid, price bigint, quantity bigint, executed_at timestamptz)
    ), given AS (
      SELECT * FROM jsonb_to_recordset(${sql.placeholder('orders')}::jsonb) AS x(id uuid, quantity bigint, price bigint,
        reserve_price bigint, time_in_force text, expires_at timestamptz, stop_price bigint, triggered_at timestamptz, filled_quantity bigint,
        filled_notional bigint, status text, reserved_amount bigint, lock_version integer, book_seq bigint,
        reject_reason text, last_request_id text, updated_at timestamptz, expected_status text,
        expected_lock_version integer, expected_filled_quantity bigint, expected_reserved_amount bigint)
    ), saved AS (
      UPDATE ${orders} o SET quantity = x.quantity, price = x.price, reserve_price = x.reserve_price,
        time_in_force = x.time_in_force, expires_at = x.expires_at, stop_price = x.stop_price, triggered_at = x.triggered_at,
        filled_quantity = x.filled_quantity, filled_notional = x.filled_notional, status = x.status,
        reserved_amount = x.reserved_amount, lock_version = x.lock_version, book_seq = x.book_seq,
        reject_reason = x.reject_reason, last_request_id = x.last_request_id, updated_at = x.updated_at
      FROM given x
      WHERE o.id = ANY(ARRAY(SELECT id FROM given)) AND o.id = x.id
        AND (x.expected_status IS NULL OR (o.status = x.expected_status
        AND o.lock_version = x.expected_lock_version AND o.filled_quantity = x.expected_filled_quantity
        AND o.reserved_amount = x.expected_reserved_amount))
      RETURNING o.id
    ), sequenced AS (
      INSERT INTO ${matchingSequences} (symbol, last_seq, last_price)
      SELECT x.symbol, x.last_seq, x.last_price
      FROM jsonb_to_recordset(${sql.placeholder('sequence')}::jsonb) AS x(symbol text, last_seq bigint, last_price bigint)
      ON CONFLICT (symbol) DO UPDATE SET last_seq = GREATEST(${matchingSequences}.last_seq, EXCLUDED.last_seq),
        last_price = coalesce(EXCLUDED.last_price, ${matchingSequences}.last_price)
    ), recorded AS (${insertOrderEventsSql(sql.placeholder('timeline'))})
    SELECT (SELECT count(id) FROM entries) AS entries, ${enqueueEventsCall(sql.placeholder('events'))},
      settlement_rows_current((SELECT count(*) FROM saved) = (SELECT count(*) FROM given))${fence ? sql`, ${fenceSql(fence)}` : sql``}`);
const unfenced = buildSettlement();
function settlementStatement(fence?: SQL) {
  if (!fence) return unfenced;
  let statement = settlementStatements.get(fence);
  if (!statement) settlementStatements.set(fence, (statement = buildSettlement(fence)));
  return statement;
}

export async function loadSequence(
  db: DbOrTx,
  symbol: string,
): Promise<{ seq: number; lastPrice: bigint | undefined }> {
  const [row] = await db.select().from(matchingSequences).where(eq(matchingSequences.symbol, symbol));
  return { seq: row ? Number(row.lastSeq) : 0, lastPrice: row?.lastPrice ?? undefined };
}

/** Open orders of a symbol in book priority order, for rebuilding the book after a start or a failure. */
export async function openOrdersForBook(db: DbOrTx, symbol: string): Promise<OrderRow[]> {
  return db
    .select()
    .from(orders)
    .where(sql`${orders.symbol} = ${symbol} AND ${orders.status} IN ('working', 'partially_filled')`)
    .orderBy(orders.bookSeq);
}

/** Stop orders of a symbol still waiting for their trigger, in sequence order. */
export async function pendingStopsForBook(db: DbOrTx, symbol: string): Promise<OrderRow[]> {
  return db
    .select()
    .from(orders)
    .where(sql`${orders.symbol} = ${symbol} AND ${orders.status} = 'pending_trigger'`)
    .orderBy(orders.bookSeq);
}
