/**
 * The saga's database steps before the ACK, run as local activities by the trading worker.
 * Each is idempotent: a retry after a crash between commit and completion changes nothing.
 */
import { eq, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { CASH_ASSET } from '../db/accounts.js';
import { orders } from '../db/schema.js';
import { InsufficientBalanceError, postEntry } from '../db/queries/ledger.js';
import { enqueueEvents } from '../db/queries/outbox.js';
import { recordOrderEvents, type OrderEventInput } from '../db/queries/timeline.js';
import { CASH_SCALE, formatDecimal } from '../lib/money.js';
import {
  insertPendingOrder,
  lockOrder,
  releaseOrderReservation,
  reserveEntry,
  reservedAsset,
  type NewOrderRow,
} from '../db/queries/orders.js';
import { controlFailure, factsFor, violationOf } from '../shard/controls.js';
import { checkLimitPrice, checkQuantity, collarPrice } from '../shard/order-rules.js';
import { executionReport } from '../shard/settlement.js';
import type { OrderActivities, PendingOrder, ValidatedOrder } from '../temporal/activities.js';
import { orderFingerprint, type OrderRequest } from '../temporal/contracts.js';
import { EventType, type OutboxEvent } from '../temporal/events.js';
import { FailureType, businessFailure } from '../temporal/failures.js';
import { DEFAULT_SELF_TRADE_PREVENTION, isStopType, isTerminal, tradesAs } from '../temporal/orders.js';
import type { InstrumentRules } from '../shard/order-rules.js';
import {
  INT64_MAX,
  MAX_ORDER_QUANTITY,
  MAX_PRICE_CENTS,
  boundedInteger,
  notionalError,
} from '../temporal/order-bounds.js';

export interface OrderActivityDeps {
  db: Db;
}

/**
 * A stop's trigger price: required for stop and stop-limit orders (on the tick grid, inside the band),
 * refused for others. Stops wait for their trigger: DAY or GTC, never IOC or FOK.
 */
function checkStop(order: OrderRequest, instrument: InstrumentRules): bigint | undefined {
  if (!isStopType(order.orderType)) {
    if (order.stopPrice !== undefined)
      throw businessFailure(FailureType.InvalidOrder, 'Only stop and stop_limit orders have a stop price');
    return undefined;
  }
  const stop = order.stopPrice === undefined ? undefined : boundedInteger(order.stopPrice, MAX_PRICE_CENTS);
  if (stop === undefined)
    throw businessFailure(
      FailureType.InvalidOrder,
      `A ${order.orderType} order needs a stop price (at most ${MAX_PRICE_CENTS} cents)`,
    );
  const bad = checkLimitPrice(instrument, stop, 'Stop price');
  if (bad) throw businessFailure(bad.type, bad.message);
  if (order.timeInForce === 'IOC' || order.timeInForce === 'FOK')
    throw businessFailure(
      FailureType.TimeInForceNotAllowed,
      'Stop orders wait for their trigger: DAY or GTC',
    );
  return stop;
}

/** What an order reserves: `amount` of cash (cents) for a buy, of its shares for a sell. */
const reservation = (order: OrderRequest, amount: bigint, reservePrice: bigint): ValidatedOrder => ({
  reserveAsset: reservedAsset(order),
  reserveAmount: String(amount),
  reservePrice: String(reservePrice),
});

/** What recording an order pending writes: its row, its first timeline events, its `order.accepted` event. */
function pendingOrder({ order, workflowId, reserved, expiresAt }: PendingOrder): {
  row: NewOrderRow;
  timeline: OrderEventInput[];
  events: OutboxEvent[];
} {
  const row: NewOrderRow = {
    id: order.orderId,
    accountId: order.accountId,
    clientOrderId: order.clientOrderId,
    symbol: order.symbol,
    side: order.side,
    orderType: order.orderType,
    timeInForce: order.timeInForce,
    selfTradePrevention: order.selfTradePrevention ?? DEFAULT_SELF_TRADE_PREVENTION,
    requestFingerprint: orderFingerprint(order),
    quantity: BigInt(order.quantity),
    price: tradesAs(order.orderType) === 'limit' && order.price !== undefined ? BigInt(order.price) : null,
    stopPrice: order.stopPrice === undefined ? null : BigInt(order.stopPrice),
    reservedAmount: BigInt(reserved.reserveAmount),
    reservePrice: BigInt(reserved.reservePrice),
    workflowId,
    // The shard expires a DAY order from its session's close on (docs/adr/0044-day-orders-expire-in-the-shard.md).
    expiresAt: order.timeInForce === 'DAY' && expiresAt !== undefined ? new Date(expiresAt) : null,
  };
  const events: OutboxEvent[] = [
    {
      accountId: order.accountId,
      eventType: EventType.OrderAccepted,
      payload: {
        order_id: order.orderId,
        client_order_id: order.clientOrderId,
        symbol: order.symbol,
        side: order.side,
        order_type: order.orderType,
        time_in_force: order.timeInForce,
        quantity: order.quantity,
        price: order.price ?? null,
        stop_price: order.stopPrice ?? null,
        ts: new Date().toISOString(),
      },
    },
  ];
  // The first steps of the order's timeline (each recorded once: a retry adds nothing).
  const at = new Date();
  const asset = reservedAsset(order);
  const timeline: OrderEventInput[] = [
    {
      orderId: order.orderId,
      key: 'received',
      at,
      type: 'received',
      details: {
        client_order_id: order.clientOrderId,
        symbol: order.symbol,
        direction: order.side,
        order_type: order.orderType,
        time_in_force: order.timeInForce,
        quantity: order.quantity,
        price: order.price === undefined ? null : formatDecimal(BigInt(order.price), CASH_SCALE),
        ...(order.stopPrice === undefined
          ? {}
          : { stop_price: formatDecimal(BigInt(order.stopPrice), CASH_SCALE) }),
      },
    },
    { orderId: order.orderId, key: 'validated', at, type: 'validated', details: {} },
    {
      orderId: order.orderId,
      key: 'funds_reserved',
      at,
      type: 'funds_reserved',
      details: {
        asset,
        amount:
          asset === CASH_ASSET
            ? formatDecimal(BigInt(reserved.reserveAmount), CASH_SCALE)
            : reserved.reserveAmount,
      },
    },
  ];
  return { row, timeline, events };
}

export function createOrderActivities({ db }: OrderActivityDeps): OrderActivities {
  return {
    async validateOrder(order: OrderRequest): Promise<ValidatedOrder> {
      // Every fact the checks read, in one statement: instrument, account, operator controls, usage (this
      // order left out), and this order's reservation if its row is stored already.
      const facts = await factsFor(
        db,
        { orderId: order.orderId, accountId: order.accountId, symbol: order.symbol },
        new Date(),
      );
      // Stored: its reserve committed in an earlier run of the saga's first workflow task, whose worker
      // died before the task completed. It was validated then: the reservation as recorded, so that the
      // reserve and persist steps find it written. A control changed since (a halt, a freeze) is refused
      // by the shard, under its control locks, when it accepts the order; the saga then compensates.
      if (facts.recorded) {
        const { reservedAmount, reservePrice } = facts.recorded;
        return reservation(order, reservedAmount, reservePrice);
      }
      const { instrument, account } = facts;
      if (!instrument) throw businessFailure(FailureType.UnknownSymbol, `Unknown symbol ${order.symbol}`);
      // A halt and a freeze are operator controls, checked with the others below.
      if (instrument.status === 'closed') throw businessFailure(FailureType.InstrumentNotTrading);
      if (!account || account.status === 'closed' || account.kind === 'external')
        throw businessFailure(FailureType.AccountInactive);

      // Impossible input (past the api's schema bounds) is refused for good, never retried.
      const qty = boundedInteger(order.quantity, MAX_ORDER_QUANTITY);
      if (qty === undefined)
        throw businessFailure(FailureType.InvalidOrder, `Quantity must be at most ${MAX_ORDER_QUANTITY}`);
      const price = order.price === undefined ? undefined : boundedInteger(order.price, MAX_PRICE_CENTS);
      if (order.price !== undefined && price === undefined)
        throw businessFailure(FailureType.InvalidOrder, `Price must be at most ${MAX_PRICE_CENTS} cents`);
      const tooLarge = price === undefined ? undefined : notionalError(qty, price);
      if (tooLarge) throw businessFailure(FailureType.InvalidOrder, tooLarge);
      const badQty = checkQuantity(instrument, qty);
      if (badQty) throw businessFailure(badQty.type, badQty.message);
      const stopPrice = checkStop(order, instrument);
      let reservePrice: bigint;
      if (tradesAs(order.orderType) === 'limit') {
        if (price === undefined)
          throw businessFailure(FailureType.InvalidOrder, `A ${order.orderType} order needs a price`);
        reservePrice = price;
        const badPrice = checkLimitPrice(instrument, reservePrice);
        if (badPrice) throw businessFailure(badPrice.type, badPrice.message);
      } else {
        if (price !== undefined)
          throw businessFailure(FailureType.InvalidOrder, `A ${order.orderType} order has no price`);
        if (order.timeInForce === 'GTC' && stopPrice === undefined)
          throw businessFailure(FailureType.TimeInForceNotAllowed, 'Market orders cannot be GTC');
        reservePrice = collarPrice(instrument);
      }
      // Operator controls, early (the shard checks them again, under the control locks, when it accepts).
      const control = violationOf(facts, {
        accountId: order.accountId,
        symbol: order.symbol,
        side: order.side,
        quantity: qty,
        price: reservePrice,
      });
      if (control) throw controlFailure(control);
      return reservation(order, order.side === 'buy' ? qty * reservePrice : qty, reservePrice);
    },

    async reserveFunds(pending) {
      const { order, reserved } = pending;
      if (boundedInteger(reserved.reserveAmount, INT64_MAX) === undefined)
        throw businessFailure(FailureType.InvalidOrder, 'The amount to reserve is out of range');
      const { row, timeline, events } = pendingOrder(pending);
      try {
        // One statement, atomic by itself: the reserve entry, then the order recorded pending. A retry
        // finds both written and changes nothing.
        await insertPendingOrder(
          db,
          row,
          timeline,
          events,
          reserveEntry(order, order.orderId, BigInt(reserved.reserveAmount)),
        );
      } catch (err) {
        if (err instanceof InsufficientBalanceError)
          throw businessFailure(
            order.side === 'buy' ? FailureType.InsufficientFunds : FailureType.InsufficientShares,
          );
        throw err;
      }
      return { persisted: true };
    },

    async persistOrder({ persisted, ...pending }) {
      if (persisted) return; // the reserve step recorded it
      const { row, timeline, events } = pendingOrder(pending);
      await insertPendingOrder(db, row, timeline, events);
    },

    async releaseReservation({ orderId, accountId, reason }) {
      await db.transaction(async (tx) => {
        const order = await lockOrder(tx, orderId);
        if (order) {
          await releaseOrderReservation(tx, order, `${orderId}:compensation`);
          await recordOrderEvents(tx, [
            { orderId, key: 'compensated', at: new Date(), type: 'compensated', details: { reason } },
          ]);
          if (!isTerminal(order.status)) {
            const [closed] = await tx
              .update(orders)
              .set({
                status: 'rejected',
                rejectReason: reason,
                updatedAt: new Date(),
                lockVersion: sql`${orders.lockVersion} + 1`,
              })
              .where(eq(orders.id, orderId))
              .returning();
            // Its `order.accepted` went to the feed with the row: the feed sees it close as well.
            if (closed) await enqueueEvents(tx, [executionReport(closed, 'rejected', closed.updatedAt)]);
          }
          return;
        }
        // Persist never committed: give back exactly what the reserve entry took.
        const reservedRows = await tx.execute<{ asset: string; amount: bigint }>(sql`
          SELECT p.asset, p.amount FROM postings p JOIN journal_entries e ON e.id = p.entry_id
          WHERE e.kind = 'reserve' AND e.reference = ${orderId} AND p.bucket = 'reserved'`);
        const row = reservedRows[0];
        if (!row) return; // nothing was reserved
        await postEntry(tx, {
          kind: 'release',
          reference: `${orderId}:compensation`,
          postings: [
            { accountId, asset: row.asset, bucket: 'reserved', amount: -row.amount },
            { accountId, asset: row.asset, bucket: 'available', amount: row.amount },
          ],
        });
      });
    },
  };
}
