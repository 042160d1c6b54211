/**
 * The outbox event contract: every event type and its payload, from the producers (the shard's
 * settlement, the saga's reserveFunds step) through the outbox table and the relay to the live feed.
 * Payloads are JSON: integers (shares, cents) as decimal strings, times as ISO strings, except the
 * market data, which carries the engine's book shapes (safe integers).
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

/** `market.update`: a book after a change, public (no account): L1, L2 (10 levels), the last trades. */
export interface MarketUpdatePayload {
  symbol: string;
  quote: { bid: BookPriceQty | null; ask: BookPriceQty | null } | null;
  depth: { bids: BookLevel[]; asks: BookLevel[] } | null;
  /** Newest first. */
  trades: BookTrade[];
  ts: string;
}

/** Every event type and its payload. */
export interface OutboxEventTable {
  'order.accepted': OrderAcceptedPayload;
  'execution.report': ExecutionReportPayload;
  'market.update': MarketUpdatePayload;
}
export type OutboxEventType = keyof OutboxEventTable;

export const EventType = {
  OrderAccepted: 'order.accepted',
  ExecutionReport: 'execution.report',
  MarketUpdate: 'market.update',
} as const satisfies Record<string, OutboxEventType>;

/** An event to enqueue: account events carry the account whose feed gets them, market data none. */
export type OutboxEvent = {
  [T in OutboxEventType]: {
    eventType: T;
    accountId: T extends 'market.update' ? null : string;
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
export type PublishedAccountEvent = Exclude<PublishedEvent, { event_type: 'market.update' }> & {
  seq: number;
};

/** A market event as published. */
export type PublishedMarketEvent = Extract<PublishedEvent, { event_type: 'market.update' }>;

/** What the relay publishes for a stored row, and what the feed rebuilds from the same row. */
export function publishedEvent(row: StoredEvent & { id: string }): PublishedEvent {
  const eventId = 'event_id' in row.payload ? row.payload.event_id : row.id;
  return { ...row.payload, event_id: eventId, event_type: row.event_type } as PublishedEvent;
}
