/**
 * The event contract of the live feed. Account events (their types and payloads) go from their
 * producers (the shard's settlement, the saga's reserveFunds step) through the outbox table and the
 * relay; market data goes from the shard that owns the book straight to Redis after each commit (ADR
 * 0040). Payloads are JSON: integers (shares, cents) as decimal strings, times as ISO strings, except
 * the market data, which carries the engine's book shapes (safe integers).
 */
import type { OrderStatus, OrderType, Side, TimeInForce } from './orders.js';

/** What happened to an order (the execution report vocabulary of docs/feed-protocol.md). */
export type ExecType =
  'new' | 'triggered' | 'partial_fill' | 'fill' | 'canceled' | 'expired' | 'replaced' | 'rejected';

/** `order.accepted`: the saga persisted a new order (written with the order row). */
export interface OrderAcceptedPayload {
  order_id: string;
  client_order_id: string;
  symbol: string;
  side: Side;
  order_type: OrderType;
  time_in_force: TimeInForce;
  quantity: string;
  price: string | null;
  /** Stop and stop-limit orders: the trigger price (cents); null for others and in events from before stops. */
  stop_price?: string | null;
  ts: string;
}

/** `execution.report`: one change of one order, written by the shard with the change. */
export interface ExecutionReportPayload {
  event_id: string;
  exec_type: ExecType;
  order_id: string;
  client_order_id: string;
  workflow_id: string;
  symbol: string;
  side: Side;
  order_type: OrderType;
  time_in_force: TimeInForce;
  status: OrderStatus;
  quantity: string;
  price: string | null;
  /** Stop and stop-limit orders: the trigger price (cents); null for others and in events from before stops. */
  stop_price?: string | null;
  /** When a stop order triggered; null before and for other orders. */
  triggered_at?: string | null;
  fill_id: string | null;
  fill_qty: string;
  fill_price: string | null;
  cum_qty: string;
  leaves_qty: string;
  reserved_amount: string;
  lock_version: number;
  reject_reason: string | null;
  ts: string;
  /** The order's saga must hear of it from the relay (a resting order changed by someone else's step). */
  notify_saga: boolean;
}

export interface BookPriceQty {
  price: number;
  qty: number;
}
export interface BookLevel extends BookPriceQty {
  orders: number;
}
export interface BookTrade extends BookPriceQty {
  ts: number;
  seq: number;
}

/**
 * `market.update`: a book as committed, public (no account): L1, L2 (10 levels), the last trades; `ts`
 * is when the batch that changed it began, so its trades are not older than it. Not an outbox event.
 */
export interface MarketUpdatePayload {
  symbol: string;
  quote: { bid: BookPriceQty | null; ask: BookPriceQty | null } | null;
  depth: { bids: BookLevel[]; asks: BookLevel[] } | null;
  /** Newest first. */
  trades: BookTrade[];
  ts: string;
}

/** Every outbox event type and its payload: the events of an account's feed. */
export interface OutboxEventTable {
  'order.accepted': OrderAcceptedPayload;
  'execution.report': ExecutionReportPayload;
}
export type OutboxEventType = keyof OutboxEventTable;

export const EventType = {
  OrderAccepted: 'order.accepted',
  ExecutionReport: 'execution.report',
} as const satisfies Record<string, OutboxEventType>;

/** An event to enqueue, with the account whose feed gets it. */
export type OutboxEvent = {
  [T in OutboxEventType]: {
    eventType: T;
    accountId: string;
    payload: OutboxEventTable[T];
  };
}[OutboxEventType];

/** A stored event: its type decides its payload's shape. */
export type StoredEvent = {
  [T in OutboxEventType]: { event_type: T; payload: OutboxEventTable[T] };
}[OutboxEventType];

/** An event as the relay publishes it: the payload plus its event id (the payload's, else the row id) and type. */
export type PublishedEvent = {
  [T in OutboxEventType]: OutboxEventTable[T] & { event_id: string; event_type: T };
}[OutboxEventType];

/** An event of an account's feed as published: with the account's sequence number. */
export type PublishedAccountEvent = PublishedEvent & { seq: number };

/** A market update as the shard publishes it: a fresh event id per publish. */
export type PublishedMarketEvent = MarketUpdatePayload & { event_id: string; event_type: 'market.update' };

/** What the relay publishes for a stored row, and what the feed rebuilds from the same row. */
export function publishedEvent(row: StoredEvent & { id: string }): PublishedEvent {
  const eventId = 'event_id' in row.payload ? row.payload.event_id : row.id;
  return { ...row.payload, event_id: eventId, event_type: row.event_type } as PublishedEvent;
}
