/**
 * Order rows. The reads of a client's orders (listOrders, getOrderByClientId) are scoped by its account;
 * the reads by id (getOrderById, lockOrder) and listOpenOrders (of an account, a symbol or the whole
 * market: cancel-all and the operator controls) are not, and their callers check the owner where one
 * matters. Writes happen inside the caller's transaction.
 */
import { and, desc, eq, getTableColumns, inArray, lt, notInArray, or, sql } from 'drizzle-orm';
import type { CommittedOrder } from '../../temporal/contracts.js';
import { TERMINAL_STATUSES } from '../../temporal/orders.js';
import { epochMicros, fromEpochMicros, prebuilt, rowMapper, type DbOrTx } from '../client.js';
import { enqueueEventsCall, outboxJson, type OutboxEvent } from './outbox.js';
import { insertOrderEventsSql, orderEventsJson, type OrderEventInput } from './timeline.js';
import { orders, instruments } from '../schema.js';
import { CASH_ASSET } from '../accounts.js';
import { entryValues, ledgerError, postEntry, postEntrySql, type LedgerEntry } from './ledger.js';

export type OrderRow = typeof orders.$inferSelect;
export type InstrumentRow = typeof instruments.$inferSelect;
/** What the api shows of an order: the row without the engine's and the saga's bookkeeping. */
export type OrderView = Omit<
  OrderRow,
  'reservePrice' | 'bookSeq' | 'lastRequestId' | 'workflowId' | 'expiresAt'
>;

/** An order row as it travels in a saga's payloads (temporal/contracts.ts `CommittedOrder`). */
export function committedOrder(o: OrderRow): CommittedOrder {
  return {
    id: o.id,
    accountId: o.accountId,
    clientOrderId: o.clientOrderId,
    symbol: o.symbol,
    side: o.side,
    orderType: o.orderType,
    timeInForce: o.timeInForce,
    selfTradePrevention: o.selfTradePrevention,
    status: o.status,
    quantity: o.quantity.toString(),
    price: o.price?.toString() ?? null,
    stopPrice: o.stopPrice?.toString() ?? null,
    triggeredAt: o.triggeredAt?.toISOString() ?? null,
    filledQuantity: o.filledQuantity.toString(),
    filledNotional: o.filledNotional.toString(),
    reservedAmount: o.reservedAmount.toString(),
    lockVersion: o.lockVersion,
    rejectReason: o.rejectReason,
    requestFingerprint: o.requestFingerprint,
    createdAt: o.createdAt.toISOString(),
    updatedAt: o.updatedAt.toISOString(),
  };
}

/** An order row selected by column name (`SELECT *` in a prebuilt statement), as drizzle maps it. */
export const orderFromRow = rowMapper(orders);

/** The order as the api shows it, from a saga's payload. */
export function orderView(c: CommittedOrder): OrderView {
  const big = (v: string | null) => (v === null ? null : BigInt(v));
  return {
    ...c,
    quantity: BigInt(c.quantity),
    price: big(c.price),
    stopPrice: big(c.stopPrice),
    triggeredAt: c.triggeredAt === null ? null : new Date(c.triggeredAt),
    filledQuantity: BigInt(c.filledQuantity),
    filledNotional: BigInt(c.filledNotional),
    reservedAmount: BigInt(c.reservedAmount),
    createdAt: new Date(c.createdAt),
    updatedAt: new Date(c.updatedAt),
  };
}

export async function getInstrument(db: DbOrTx, symbol: string): Promise<InstrumentRow | undefined> {
  const [row] = await db.select().from(instruments).where(eq(instruments.symbol, symbol));
  return row;
}

export async function listInstruments(db: DbOrTx): Promise<InstrumentRow[]> {
  return db.select().from(instruments).orderBy(instruments.symbol);
}

export async function getOrderById(db: DbOrTx, orderId: string): Promise<OrderRow | undefined> {
  const [row] = await db.select().from(orders).where(eq(orders.id, orderId));
  return row;
}

/** Whether the order exists and is not terminal (what temporal/saga-cancel.ts asks of a saga gone). */
export async function orderIsOpen(db: DbOrTx, orderId: string): Promise<boolean> {
  const row = await getOrderById(db, orderId);
  return row !== undefined && !TERMINAL_STATUSES.includes(row.status);
}

/** Lock one order row for the rest of the transaction. */
export async function lockOrder(tx: DbOrTx, orderId: string): Promise<OrderRow | undefined> {
  const [row] = await tx.select().from(orders).where(eq(orders.id, orderId)).for('update');
  return row;
}

export async function getOrderByClientId(
  db: DbOrTx,
  accountId: string,
  clientOrderId: string,
): Promise<OrderRow | undefined> {
  const [row] = await db
    .select()
    .from(orders)
    .where(and(eq(orders.accountId, accountId), eq(orders.clientOrderId, clientOrderId)));
  return row;
}

export interface OrderListFilter {
  accountId: string;
  status?: OrderRow['status'][];
  symbol?: string;
  limit: number;
  /**
   * Keyset cursor: created_at (in microseconds since the epoch, Postgres's precision: a Date's milliseconds
   * would skip an order created in the same millisecond) and id of the last row of the previous page.
   */
  before?: { createdAtMicros: bigint; id: string };
}

/** An order row of a list, with its exact keyset position. */
export type ListedOrder = OrderRow & { createdAtMicros: bigint };

export async function listOrders(db: DbOrTx, f: OrderListFilter): Promise<ListedOrder[]> {
  const conds = [eq(orders.accountId, f.accountId)];
  if (f.status?.length) conds.push(inArray(orders.status, f.status));
  if (f.symbol) conds.push(eq(orders.symbol, f.symbol));
  if (f.before) {
    const b = f.before;
    const at = fromEpochMicros(b.createdAtMicros);
    conds.push(or(lt(orders.createdAt, at), and(eq(orders.createdAt, at), lt(orders.id, b.id)))!);
  }
  return db
    .select({
      ...getTableColumns(orders),
      createdAtMicros: epochMicros(orders.createdAt).mapWith(BigInt),
    })
    .from(orders)
    .where(and(...conds))
    .orderBy(desc(orders.createdAt), desc(orders.id))
    .limit(f.limit);
}

/**
 * Orders that are open (in the book or waiting in it: neither terminal nor still being placed), oldest
 * first, of one account and/or one symbol: what a cancel-all, a freeze, a halt with cancel or a kill
 * switch cancels. With neither filter, every open order of the market.
 */
export async function listOpenOrders(
  db: DbOrTx,
  f: { accountId?: string; symbol?: string },
): Promise<Pick<OrderRow, 'id' | 'workflowId' | 'accountId' | 'symbol'>[]> {
  const conds = [notInArray(orders.status, [...TERMINAL_STATUSES, 'pending'])];
  if (f.accountId) conds.push(eq(orders.accountId, f.accountId));
  if (f.symbol) conds.push(eq(orders.symbol, f.symbol));
  return db
    .select({
      id: orders.id,
      workflowId: orders.workflowId,
      accountId: orders.accountId,
      symbol: orders.symbol,
    })
    .from(orders)
    .where(and(...conds))
    .orderBy(orders.createdAt, orders.id);
}

/** A new order's row as the saga persists it (status pending; the database's defaults for the rest). */
export type NewOrderRow = Pick<
  OrderRow,
  | 'id'
  | 'accountId'
  | 'clientOrderId'
  | 'symbol'
  | 'side'
  | 'orderType'
  | 'timeInForce'
  | 'selfTradePrevention'
  | 'requestFingerprint'
  | 'quantity'
  | 'price'
  | 'stopPrice'
  | 'reservedAmount'
  | 'reservePrice'
  | 'workflowId'
> &
  /** A DAY order's session close (docs/adr/0044-day-orders-expire-in-the-shard.md); absent: none. */
  Partial<Pick<OrderRow, 'expiresAt'>>;

const P = (name: string) => sql.placeholder(name);
/**
 * The order's row, its first timeline events and its outbox events in one statement; with `reserve`, the
 * reservation's journal entry is posted first in the same statement (`post_entry`), so a refused
 * reservation writes nothing at all.
 */
const pendingOrderSql = (reserve: boolean) => sql`
  WITH ${reserve ? sql`reserved AS (SELECT ${postEntrySql}), ` : sql``}inserted AS (
    INSERT INTO ${orders} (id, account_id, client_order_id, symbol, side, order_type, time_in_force,
      self_trade_prevention, request_fingerprint, quantity, price, stop_price, reserved_amount, reserve_price,
      status, workflow_id, expires_at)
    SELECT ${P('id')}::uuid, ${P('accountId')}::uuid, ${P('clientOrderId')}, ${P('symbol')}, ${P('side')},
      ${P('orderType')}, ${P('timeInForce')}, ${P('selfTradePrevention')}, ${P('requestFingerprint')},
      ${P('quantity')}::bigint, ${P('price')}::bigint, ${P('stopPrice')}::bigint, ${P('reservedAmount')}::bigint,
      ${P('reservePrice')}::bigint, 'pending', ${P('workflowId')}, ${P('expiresAt')}::timestamptz
    ${reserve ? sql` FROM reserved` : sql``}
    ON CONFLICT (id) DO NOTHING
    RETURNING id
  ), recorded AS (${insertOrderEventsSql(P('timeline'))})
  SELECT ${enqueueEventsCall(P('events'), { notify: false })} FROM inserted`;
const insertPending = prebuilt(pendingOrderSql(false));
const reserveAndInsertPending = prebuilt(pendingOrderSql(true));

/**
 * A new order recorded pending: its row, its first timeline events and its outbox events in one statement
 * (one round trip, atomic by itself), after posting `reserve` in the same statement when given (a refused
 * balance change is an InsufficientBalanceError, and nothing is written). The events are enqueued only
 * when the row is new: a retry after a commit inserts nothing and enqueues nothing (each timeline event is
 * recorded once by its key, the entry once by its kind and reference).
 */
export async function insertPendingOrder(
  db: DbOrTx,
  row: NewOrderRow,
  timeline: OrderEventInput[],
  events: OutboxEvent[],
  reserve?: LedgerEntry,
): Promise<void> {
  const big = (v: bigint | null) => (v === null ? null : v.toString());
  const values = {
    ...row,
    quantity: big(row.quantity),
    price: big(row.price),
    stopPrice: big(row.stopPrice),
    reservedAmount: big(row.reservedAmount),
    reservePrice: big(row.reservePrice),
    expiresAt: row.expiresAt?.toISOString() ?? null,
    timeline: orderEventsJson(timeline),
    events: outboxJson(events),
  };
  if (!reserve) {
    await insertPending(db, values);
    return;
  }
  const entry = entryValues(reserve);
  try {
    await reserveAndInsertPending(db, { ...values, ...entry });
  } catch (err) {
    throw ledgerError(err, reserve);
  }
}

/** The asset an order reserves: cash for buys, the instrument's shares for sells. */
export const reservedAsset = (o: Pick<OrderRow, 'side' | 'symbol'>): string =>
  o.side === 'buy' ? CASH_ASSET : o.symbol;

/**
 * The journal entry that moves `amount` of the order's asset between its buckets, identified by
 * `reference`, dated `at` (absent: by its transaction, `LedgerEntry.at`).
 */
function bucketEntry(
  kind: 'reserve' | 'release',
  order: Pick<OrderRow, 'accountId' | 'side' | 'symbol'>,
  reference: string,
  amount: bigint,
  at?: Date,
): LedgerEntry {
  const asset = reservedAsset(order);
  const [from, to] =
    kind === 'reserve' ? (['available', 'reserved'] as const) : (['reserved', 'available'] as const);
  return {
    kind,
    reference,
    at,
    postings: [
      { accountId: order.accountId, asset, bucket: from, amount: -amount },
      { accountId: order.accountId, asset, bucket: to, amount },
    ],
  };
}

/** The journal entry that reserves `amount` of the order's asset (cash for buys, shares for sells). */
export const reserveEntry = (
  order: Pick<OrderRow, 'accountId' | 'side' | 'symbol'>,
  reference: string,
  amount: bigint,
  at?: Date,
): LedgerEntry => bucketEntry('reserve', order, reference, amount, at);

/** The journal entry that releases `amount` of what the order has reserved, identified by `reference`. */
export const releaseEntry = (
  order: Pick<OrderRow, 'accountId' | 'side' | 'symbol'>,
  reference: string,
  amount: bigint,
  at?: Date,
): LedgerEntry => bucketEntry('release', order, reference, amount, at);

/**
 * Release `amount` (default: all) of what the order still has reserved, as one journal entry
 * identified by `reference`, now (the saga's compensation; the shard's operations gather theirs).
 * Idempotent through the entry's (kind, reference) key.
 */
export async function releaseOrderReservation(
  tx: DbOrTx,
  order: OrderRow,
  reference: string,
  amount: bigint = order.reservedAmount,
): Promise<bigint> {
  if (amount <= 0n) return 0n;
  const id = await postEntry(tx, releaseEntry(order, reference, amount));
  if (id === null) return 0n;
  await tx
    .update(orders)
    .set({ reservedAmount: sql`${orders.reservedAmount} - ${amount}`, updatedAt: new Date() })
    .where(eq(orders.id, order.id));
  return amount;
}
