/**
 * The shard's order operations and their business rules: submit, cancel and replace, each run inside
 * a group-commit batch (batcher.ts) and idempotent by order id (submit) or the saga's request id
 * (cancel, replace). Refusals are business failures (temporal/failures.ts).
 */
import { InsufficientBalanceError, postEntry } from '../db/queries/ledger.js';
import type { OrderFacts } from '../db/queries/controls.js';
import { getOrderById, releaseEntry, reserveEntry, type OrderRow } from '../db/queries/orders.js';
import { controlFailure, lockedOrderAndFacts, violationOf } from './controls.js';
import {
  expectationOf,
  saveOrder,
  saveSequence,
  settlementWrites,
  type SettlementWrites,
} from '../db/queries/settlement.js';
import type { ReplaceRequest } from '../temporal/contracts.js';
import { FailureType, businessFailure, orderClosed, versionConflict } from '../temporal/failures.js';
import type { OrderBook, SubmitResult } from '../matching/index.js';
import {
  RESTING_TIME_IN_FORCES,
  isStopType,
  isTerminal,
  tradesAs,
  type CancelReason,
} from '../temporal/orders.js';
import { enginePrice, expiryOf, leaves, newOrder, toNum, type ShardBooks } from './books.js';
import { Refusal, type Operation } from './batcher.js';
import { checkLimitPrice, checkQuantity } from './order-rules.js';
import { notionalError } from '../temporal/order-bounds.js';
import { announce } from './timeline.js';
import {
  closeOrder,
  executionReport,
  marketEvent,
  settleResult,
  snapshot,
  type SettlementDeps,
} from './settlement.js';

export interface OperationDeps extends SettlementDeps {
  books: ShardBooks;
  now: () => Date;
}

const unknownOrder = (orderId: string) =>
  businessFailure(FailureType.InvalidOrder, `Unknown order ${orderId}`);

/** Accepting an order (or a replace) under the operator controls in force: a violation is a business failure. */
function refuseUnderControls(facts: OrderFacts, order: OrderRow, quantity: bigint, price: bigint): void {
  const v = violationOf(facts, {
    orderId: order.id,
    accountId: order.accountId,
    symbol: order.symbol,
    side: order.side,
    quantity,
    price,
  });
  if (v) throw controlFailure(v);
}

/** A DAY order whose session closed at or before `at` (docs/adr/0044-day-orders-expire-in-the-shard.md). */
const isDue = (o: OrderRow, at: Date): boolean => (expiryOf(o) ?? Infinity) <= at.getTime();

/** An order closed as expired: as the saga's expiry step closes it (`cancelOrder`, reason expired). */
function expire(w: SettlementWrites, o: OrderRow, at: Date): void {
  o.status = CANCEL_OUTCOME.expired.status;
  o.lockVersion += 1;
  o.lastRequestId = null;
  closeOrder(w, o, at);
}

/**
 * Before an operation can trade in the book of `symbol`: the DAY orders resting there (or waiting for
 * their trigger) whose session closed are expired first, in the same writes, exactly as the saga's
 * expiry step would expire them (reservation released, timeline, execution report; their sagas hear of
 * it from the relay). Their sagas' own expiry steps then find them closed. Nothing to do, and nothing
 * read, before the book's earliest expiry (books.ts).
 */
function expireDue(
  deps: OperationDeps,
  w: SettlementWrites,
  book: OrderBook,
  symbol: string,
  at: Date,
): void {
  for (const o of deps.books.dueRows(symbol, at)) {
    w.expected.set(o.id, expectationOf(o));
    book.cancel(o.id);
    expire(w, o, at);
    announce(w, [executionReport(o, CANCEL_OUTCOME.expired.exec, at, undefined, true)]);
  }
}

/**
 * A client's cancel or replace of an order whose session closed: too late, the order is expired. It is
 * expired now, with the other due orders of its book, as the next operation there would expire them
 * (its saga hears of it from the relay, and its expiry step then finds it closed), and the request is
 * refused as for an expired order (409 order_closed): the expiry commits, the refusal is the answer.
 */
const expireInstead =
  (deps: OperationDeps, order: OrderRow, at: Date): Operation =>
  async (tx, bookOf, write) => {
    const w = settlementWrites();
    expireDue(deps, w, await bookOf(order.symbol), order.symbol, at);
    announce(w, [marketEvent(deps.books, order.symbol, at)]);
    await write(tx, w);
    return new Refusal(orderClosed(CANCEL_OUTCOME.expired.status));
  };

export function submitOrder(deps: OperationDeps, orderId: string): Operation {
  return async (tx, bookOf, write) => {
    const locked = await lockedOrderAndFacts(tx, orderId, deps.now());
    if (!locked) throw unknownOrder(orderId);
    const { order, facts } = locked;
    if (order.status !== 'pending') return snapshot(order); // already submitted: a retry
    refuseUnderControls(facts, order, order.quantity, order.reservePrice);
    const book = await bookOf(order.symbol);
    const at = deps.now();
    const w = settlementWrites();
    expireDue(deps, w, book, order.symbol, at);
    if (isDue(order, at)) {
      // Its session closed before it reached the book (a matching outage over the close): it never
      // trades, and its saga hears so in this step's answer.
      expire(w, order, at);
      const submitted = { orderId: order.id, key: 'submitted', at, type: 'submitted' as const, details: {} };
      announce(
        w,
        [executionReport(order, CANCEL_OUTCOME.expired.exec, at), marketEvent(deps.books, order.symbol, at)],
        [submitted],
      );
      await write(tx, w);
      return snapshot(order);
    }
    const seq = deps.books.nextSeq(order.symbol);
    const result = book.submit(newOrder(order, seq, at));
    const fillIds = await settleResult(deps, tx, w, order, result, at, 'new');
    saveBookState(deps, w, order.symbol, seq, result);
    await write(tx, w);
    return snapshot(order, fillIds);
  };
}

/**
 * After an operation with sequence `seq`: the stops it triggered took the sequences after it, so the
 * symbol's sequence moves to the largest; an operation that traded records its last trade price.
 */
function saveBookState(
  deps: OperationDeps,
  w: SettlementWrites,
  symbol: string,
  seq: number,
  result: SubmitResult,
): void {
  const last = result.ok ? result.triggered.reduce((max, t) => Math.max(max, t.seq), seq) : seq;
  deps.books.advanceSeq(symbol, last);
  const lastTrade = result.ok ? result.fills.at(-1) : undefined;
  saveSequence(w, symbol, last, lastTrade?.price);
}

/** What a cancel for `reason` makes of the order: its status and its execution report. */
const CANCEL_OUTCOME = {
  user: { status: 'cancelled', exec: 'canceled' },
  expired: { status: 'expired', exec: 'expired' },
  compensation: { status: 'rejected', exec: 'rejected' },
} as const satisfies Record<CancelReason, { status: string; exec: string }>;

export function cancelOrder(
  deps: OperationDeps,
  args: { orderId: string; requestId?: string; clientVersion?: number; reason: CancelReason },
): Operation {
  return async (tx, bookOf, write) => {
    const order = await getOrderById(tx, args.orderId);
    if (!order) throw unknownOrder(args.orderId);
    if (args.requestId && order.lastRequestId === args.requestId) return snapshot(order); // a retry
    if (isTerminal(order.status)) {
      // A client's cancel that lost the race to a fill (or to another close) did not cancel anything:
      // its caller hears so (409 order_closed), as a replace does. The saga's own closes take the order
      // as it is.
      if (args.reason === 'user') throw orderClosed(order.status);
      return snapshot(order);
    }
    const at = deps.now();
    // Its session closed: too late for the client to cancel.
    if (args.reason === 'user' && isDue(order, at)) return expireInstead(deps, order, at)(tx, bookOf, write);
    if (
      args.reason === 'user' &&
      args.clientVersion !== undefined &&
      args.clientVersion !== order.lockVersion
    )
      throw versionConflict(args.clientVersion, order.lockVersion);
    const book = await bookOf(order.symbol);
    book.cancel(order.id); // not in the book (still pending): nothing to pull
    // A saga's withdraw after a submit that timed out but rested the order, which then traded: the
    // trades stand, so the rest is cancelled, not rejected.
    const withdrawnAfterTrades = args.reason === 'compensation' && order.filledQuantity > 0n;
    const outcome = CANCEL_OUTCOME[withdrawnAfterTrades ? 'user' : args.reason];
    order.status = outcome.status;
    if (args.reason === 'compensation' && !withdrawnAfterTrades)
      order.rejectReason ??= 'Order could not be placed';
    order.lockVersion += 1;
    order.lastRequestId = args.requestId ?? null;
    const w = settlementWrites();
    closeOrder(w, order, at);
    // The client's (or an operator's) cancel is on the timeline as asked, then done.
    const asked =
      args.reason === 'user'
        ? [
            {
              orderId: order.id,
              key: `cancel_requested:${args.requestId ?? at.toISOString()}`,
              at,
              type: 'cancel_requested' as const,
              details: {},
            },
          ]
        : [];
    announce(w, [executionReport(order, outcome.exec, at), marketEvent(deps.books, order.symbol, at)], asked);
    await write(tx, w);
    return snapshot(order);
  };
}

export function replaceOrder(deps: OperationDeps, args: { orderId: string } & ReplaceRequest): Operation {
  return async (tx, bookOf, write) => {
    const at = deps.now();
    const locked = await lockedOrderAndFacts(tx, args.orderId, at);
    if (!locked) throw unknownOrder(args.orderId);
    const { order, facts } = locked;
    if (args.requestId && order.lastRequestId === args.requestId) return snapshot(order); // a retry
    if (isTerminal(order.status) || order.status === 'pending') throw orderClosed(order.status);
    // Its session closed: too late to replace it.
    if (isDue(order, at)) return expireInstead(deps, order, at)(tx, bookOf, write);
    if (args.clientVersion !== order.lockVersion)
      throw versionConflict(args.clientVersion, order.lockVersion);
    const pending = order.status === 'pending_trigger';
    if (order.orderType === 'market' || (order.orderType === 'stop' && !pending))
      throw businessFailure(
        FailureType.InvalidOrder,
        'Only limit orders and untriggered stops can be replaced',
      );
    if (args.stopPrice !== undefined && !pending)
      throw businessFailure(
        FailureType.InvalidOrder,
        isStopType(order.orderType)
          ? 'The stop price can only change before the order triggers'
          : 'Only stop orders have a stop price',
      );
    const hasLimit = tradesAs(order.orderType) === 'limit';
    if (args.price !== undefined && !hasLimit)
      throw businessFailure(FailureType.InvalidOrder, 'A stop order has no limit price to replace');
    // The instrument and the controls, read with the order (the control locks held since its read).
    const { instrument } = facts;
    if (!instrument) throw businessFailure(FailureType.UnknownSymbol);

    const newQty = args.quantity !== undefined ? BigInt(args.quantity) : order.quantity;
    const newPrice = hasLimit ? (args.price !== undefined ? BigInt(args.price) : order.price!) : null;
    const newStop = args.stopPrice !== undefined ? BigInt(args.stopPrice) : order.stopPrice;
    const badQty = checkQuantity(instrument, newQty);
    if (badQty) throw businessFailure(badQty.type, badQty.message);
    if (newQty <= order.filledQuantity)
      throw businessFailure(FailureType.InvalidOrder, 'New quantity must exceed the filled quantity');
    for (const [what, p] of [
      ['Price', newPrice],
      ['Stop price', pending ? newStop : null],
    ] as const) {
      const bad = p === null ? null : checkLimitPrice(instrument, p, what);
      if (bad) throw businessFailure(bad.type, bad.message);
    }
    // The order-value cap of placement, on the order as replaced (the api checks it when both are given).
    const tooLarge = newPrice === null ? undefined : notionalError(newQty, newPrice);
    if (tooLarge) throw businessFailure(FailureType.InvalidOrder, tooLarge);
    if (args.timeInForce && !(RESTING_TIME_IN_FORCES as readonly string[]).includes(args.timeInForce))
      throw businessFailure(FailureType.TimeInForceNotAllowed, 'A resting order cannot become IOC or FOK');

    // A buy reserves its limit price per share (a stop, which trades as a market order, its collar).
    const unit = order.side === 'buy' ? (newPrice ?? order.reservePrice) : 1n;
    // The limits weigh what is left to trade: the filled part is already in the account's position and
    // in today's trades (its usage).
    refuseUnderControls(facts, order, newQty - order.filledQuantity, newPrice ?? order.reservePrice);
    const newLeaves = newQty - order.filledQuantity;
    const newReserved = newLeaves * unit;
    const increase = newReserved - order.reservedAmount;
    const version = order.lockVersion + 1;

    const book = await bookOf(order.symbol);
    const seq = deps.books.nextSeq(order.symbol);
    const w = settlementWrites();
    expireDue(deps, w, book, order.symbol, at);
    // Reserve any increase before the book may trade on it (in a savepoint: a refusal leaves the
    // transaction usable, and nothing else has been written yet).
    try {
      if (increase > 0n) {
        await tx.transaction((sp) =>
          postEntry(sp, reserveEntry(order, `${order.id}:v${version}`, increase, at)),
        );
      }
    } catch (err) {
      if (err instanceof InsufficientBalanceError)
        throw businessFailure(
          order.side === 'buy' ? FailureType.InsufficientFunds : FailureType.InsufficientShares,
        );
      throw err;
    }
    order.quantity = newQty;
    order.price = newPrice;
    order.stopPrice = newStop;
    if (order.side === 'buy') order.reservePrice = unit;
    const result = book.modify(
      order.id,
      {
        price: enginePrice(order),
        qty: toNum(newLeaves),
        stopPrice: pending ? toNum(newStop!) : undefined,
      },
      seq,
      at.getTime(),
    );
    // A refused modify throws: the reservation above is undone with the rest of the operation.
    if (!result.ok) throw businessFailure(FailureType.InvalidOrder, result.reason);
    if (increase > 0n) order.reservedAmount += increase;
    if (args.timeInForce) {
      order.timeInForce = args.timeInForce;
      // Made DAY: it expires at the close the api computed (kept when none came); made GTC: never.
      if (args.timeInForce !== 'DAY') order.expiresAt = null;
      else if (args.expiresAt !== undefined) order.expiresAt = new Date(args.expiresAt);
    }
    order.lockVersion = version;
    order.lastRequestId = args.requestId ?? null;
    const fillIds = await settleResult(deps, tx, w, order, result, at, 'replaced');
    // Release what the new price and quantity no longer need (a decrease, or what fills left over).
    const stillNeeded = isTerminal(order.status) ? 0n : leaves(order) * unit;
    if (order.reservedAmount > stillNeeded) {
      w.entries.push(releaseEntry(order, `${order.id}:v${version}`, order.reservedAmount - stillNeeded, at));
      order.reservedAmount = stillNeeded;
    }
    saveOrder(w, order, at);
    saveBookState(deps, w, order.symbol, seq, result);
    await write(tx, w);
    return snapshot(order, fillIds);
  };
}
