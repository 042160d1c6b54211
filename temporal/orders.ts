/**
 * The order vocabulary, declared once: the api's schemas, the database columns, the saga, the order
 * activities and the shard all use these lists and types. `matching/` keeps its own engine types (it
 * imports nothing outside itself); the shard maps rows to them in one place (shard/books.ts).
 */

/** The side of an order (`direction` in the public API). */
export const SIDES = ['buy', 'sell'] as const;
export type Side = (typeof SIDES)[number];

/**
 * `stop` and `stop_limit` wait (status `pending_trigger`, outside the visible book) until a trade prints
 * at or beyond their `stop_price`; then a stop trades as a market order, a stop-limit as a limit order.
 */
export const ORDER_TYPES = ['market', 'limit', 'stop', 'stop_limit'] as const;
export type OrderType = (typeof ORDER_TYPES)[number];
export const isStopType = (t: OrderType): boolean => t === 'stop' || t === 'stop_limit';
/** What the order trades as (a stop once triggered): a limit order has a limit price. */
export const tradesAs = (t: OrderType): 'limit' | 'market' =>
  t === 'limit' || t === 'stop_limit' ? 'limit' : 'market';

export const TIME_IN_FORCES = ['DAY', 'GTC', 'IOC', 'FOK'] as const;
export type TimeInForce = (typeof TIME_IN_FORCES)[number];
/** What a resting order may be replaced with: an IOC or FOK cannot rest. */
export const RESTING_TIME_IN_FORCES = ['DAY', 'GTC'] as const satisfies readonly TimeInForce[];

export const ORDER_STATUSES = [
  'pending',
  'pending_trigger',
  'working',
  'partially_filled',
  'filled',
  'cancelled',
  'expired',
  'rejected',
] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];
export const TERMINAL_STATUSES: readonly OrderStatus[] = ['filled', 'cancelled', 'expired', 'rejected'];
export const isTerminal = (s: OrderStatus): boolean => TERMINAL_STATUSES.includes(s);
/** Statuses in which an order holds its reservation for its leaves (in the book, or waiting for its trigger). */
export const OPEN_STATUSES = [
  'pending_trigger',
  'working',
  'partially_filled',
] as const satisfies readonly OrderStatus[];

/**
 * Self-trade prevention, per order: what happens when it would trade against a resting order of its own
 * account. cancel_newest (the default) cancels the incoming order's remainder, cancel_oldest cancels the
 * resting order and keeps matching, cancel_both cancels both. The engine's fourth mode (`none`, trade
 * with yourself) is not offered.
 */
export const SELF_TRADE_PREVENTIONS = ['cancel_newest', 'cancel_oldest', 'cancel_both'] as const;
export type SelfTradePrevention = (typeof SELF_TRADE_PREVENTIONS)[number];
export const DEFAULT_SELF_TRADE_PREVENTION: SelfTradePrevention = 'cancel_newest';

/** Why a matching-worker cancel runs. user: the client asked; expired: session close; compensation: the saga is undoing its placement. */
export const CANCEL_REASONS = ['user', 'expired', 'compensation'] as const;
export type CancelReason = (typeof CANCEL_REASONS)[number];

/**
 * What an order's timeline records (GET /api/v1/orders/{id}/timeline): its customer-visible life, oldest
 * first. `triggered` is for stop orders.
 */
export const ORDER_EVENT_TYPES = [
  'received',
  'validated',
  'funds_reserved',
  'submitted',
  'accepted',
  'rejected',
  'fill',
  'triggered',
  'replaced',
  'cancel_requested',
  'cancelled',
  'expired',
  'compensated',
] as const;
export type OrderEventType = (typeof ORDER_EVENT_TYPES)[number];
