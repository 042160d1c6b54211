/**
 * The order vocabulary, declared once: the api's schemas, the database columns, the saga, the order
 * activities and the shard all use these lists and types. `matching/` keeps its own engine types (it
 * imports nothing outside itself); the shard maps rows to them in one place (shard/books.ts).
 */

/** The side of an order (`direction` in the public API). */
export const SIDES = ['buy', 'sell'] as const;
export type Side = (typeof SIDES)[number];

export const ORDER_TYPES = ['market', 'limit'] as const;
export type OrderType = (typeof ORDER_TYPES)[number];

export const TIME_IN_FORCES = ['DAY', 'GTC', 'IOC', 'FOK'] as const;
export type TimeInForce = (typeof TIME_IN_FORCES)[number];
/** What a resting order may be replaced with: an IOC or FOK cannot rest. */
export const RESTING_TIME_IN_FORCES = ['DAY', 'GTC'] as const satisfies readonly TimeInForce[];
export type RestingTimeInForce = (typeof RESTING_TIME_IN_FORCES)[number];

export const ORDER_STATUSES = [
  'pending',
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
