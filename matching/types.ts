/**
 * Value types of the matching engine. Prices and quantities are integers in the caller's units (in
 * BrokerX: cents on the instrument's tick grid, and shares; ADR 0002), carried as JS numbers that must be
 * safe integers (docs/adr/0007-matching-engine-numbers.md); the caller converts from and to `bigint` at
 * the database boundary. The engine never multiplies them: notional amounts are the caller's.
 */
import type { RejectCode } from './errors.js';

export type Side = 'buy' | 'sell';
/** What an order trades as. A stop order (`stopPrice` set) becomes this type when it triggers. */
export type OrderType = 'limit' | 'market';
/** DAY rests like GTC: expiry at the end of the session is a `cancel` issued by the caller. */
export type TimeInForce = 'GTC' | 'DAY' | 'IOC' | 'FOK';

/**
 * Self-trade prevention, applied when a taker would trade against a resting order of its own account.
 * The taker's mode decides. `cancel_newest` (the default) cancels the taker's remainder,
 * `cancel_oldest` cancels the resting order and keeps matching, `cancel_both` cancels both,
 * `none` lets the trade happen.
 */
export type StpMode = 'cancel_newest' | 'cancel_oldest' | 'cancel_both' | 'none';

export interface NewOrder {
  id: string;
  accountId: string;
  side: Side;
  type: OrderType;
  tif: TimeInForce;
  /** Limit price (integer). Required for limit orders; for market orders an optional protection limit. */
  price?: number | undefined;
  /**
   * Makes it a stop order (a stop-limit when `type` is limit): it waits outside the visible book until a
   * trade prints at or above `stopPrice` (buy) or at or below it (sell), then trades as its `type`. When
   * the last trade price already meets the condition it triggers at once.
   */
  stopPrice?: number | undefined;
  qty: number;
  /**
   * Arrival sequence; callers pass increasing values so that sequence order is time priority. An
   * operation that triggers stop orders gives them the sequences after this one (`Triggered.seq`): the
   * caller's next sequence must exceed the largest of them.
   */
  seq: number;
  /** Caller's timestamp (epoch milliseconds); the engine has no clock. */
  ts: number;
  stp?: StpMode | undefined;
}

/** A stop order waiting for its trigger: not in the visible book, never traded against. */
export interface PendingStop {
  readonly id: string;
  readonly accountId: string;
  readonly side: Side;
  /** What it trades as once triggered. */
  readonly type: OrderType;
  readonly stopPrice: number;
  /** Limit price (stop-limit), or the optional protection limit of a stop (market). */
  readonly price: number | undefined;
  readonly qty: number;
  /** Trigger priority among stops met by the same trade, after the stop price. */
  readonly seq: number;
  readonly ts: number;
  readonly tif: TimeInForce;
  readonly stp: StpMode;
}

/** A stop order that triggered during an operation; it then traded as a taker with `seq`. */
export interface Triggered {
  readonly orderId: string;
  readonly accountId: string;
  readonly side: Side;
  readonly stopPrice: number;
  /** The sequence it took when triggered: its fills carry it, and its time priority if it rests. */
  readonly seq: number;
  readonly ts: number;
}

/** A resting order as seen from outside the book (a copy, or a record already detached from the book). */
export interface RestingOrder {
  readonly id: string;
  readonly accountId: string;
  readonly side: Side;
  readonly price: number;
  /** Leaves quantity still on the book. */
  readonly qty: number;
  readonly seq: number;
  readonly ts: number;
  readonly tif: TimeInForce;
  readonly stp: StpMode;
}

/** An order to put back on the book as it was (rebuild from storage): no matching happens. */
export interface LoadOrder {
  id: string;
  accountId: string;
  side: Side;
  price: number;
  qty: number;
  seq: number;
  ts: number;
  tif?: TimeInForce | undefined;
  stp?: StpMode | undefined;
}

export interface Fill {
  readonly makerOrderId: string;
  readonly takerOrderId: string;
  readonly makerAccountId: string;
  readonly takerAccountId: string;
  /** The taker's side (the aggressor). */
  readonly takerSide: Side;
  /** Always the maker's (resting) price. */
  readonly price: number;
  readonly qty: number;
  /** What each side has left after this fill. */
  readonly makerLeaves: number;
  readonly takerLeaves: number;
  /** The taker operation's sequence and timestamp. */
  readonly seq: number;
  readonly ts: number;
}

export type CancelReason =
  /** self-trade prevention */
  | 'stp'
  /** IOC remainder */
  | 'ioc'
  /** FOK that could not fill completely (nothing traded) */
  | 'fok'
  /** market order remainder: no (more) liquidity within the protection limit */
  | 'market';

export interface Cancellation {
  readonly orderId: string;
  readonly accountId: string;
  /** Quantity that was cancelled (the order's leaves at that moment). */
  readonly qty: number;
  readonly reason: CancelReason;
}

export interface Accepted {
  readonly ok: true;
  /**
   * In execution order, the fills of stop orders this operation triggered included. Read-only: an
   * operation that traded nothing shares one frozen empty list (as do the two lists below).
   */
  readonly fills: readonly Fill[];
  /** Orders (the taker's own id included) whose remaining quantity was cancelled by this operation. */
  readonly cancellations: readonly Cancellation[];
  /** The taker's remainder when it rests on the book, else null. */
  readonly resting: RestingOrder | null;
  /**
   * Stop orders triggered by this operation, in the order they triggered and traded (the taker first
   * when it is a stop whose condition already held). A triggered order that rests is then in `get`.
   */
  readonly triggered: readonly Triggered[];
  /** The taker when it is a stop order waiting for its trigger, else null. */
  readonly pending: PendingStop | null;
}

export interface Rejected {
  readonly ok: false;
  readonly code: RejectCode;
  readonly reason: string;
}

/** Outcome of `submit` and `modify`: a value, never an exception. */
export type SubmitResult = Accepted | Rejected;

/** The order's new state. */
export interface ModifyRequest {
  /**
   * New limit price (integer): required for a resting order and a pending stop-limit; for a pending
   * stop (market) the optional protection limit.
   */
  price?: number | undefined;
  /** New leaves quantity. */
  qty: number;
  /** New stop price: required for a pending stop, refused for a resting order. */
  stopPrice?: number | undefined;
}

export interface PriceQty {
  readonly price: number;
  readonly qty: number;
}

export interface Quote {
  readonly bid: PriceQty | null;
  readonly ask: PriceQty | null;
}

export interface DepthLevel {
  readonly price: number;
  /** Aggregated leaves quantity at the level. */
  readonly qty: number;
  /** Number of orders at the level. */
  readonly orders: number;
}

export interface Depth {
  /** Best first. */
  readonly bids: DepthLevel[];
  readonly asks: DepthLevel[];
}

export interface Trade {
  readonly price: number;
  readonly qty: number;
  readonly ts: number;
  readonly seq: number;
}

/** What `load` restores besides the resting orders. */
export interface LoadOptions {
  /** Stop orders still waiting for their trigger. */
  stops?: readonly PendingStop[];
  /** The last trade price before the rebuild: stops placed later trigger at once when it meets them. */
  lastPrice?: number | undefined;
}

export interface OrderBookOptions {
  /** Self-trade prevention for orders that do not name one. Default `cancel_newest`. */
  defaultStp?: StpMode;
  /** How many trades `lastTrades` can return (ring buffer size). Default 256. */
  tradeHistory?: number;
}
