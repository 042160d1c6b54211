/**
 * From what the outbox relay publishes (workers/outbox/relay.ts) to the frames clients read. Account
 * events keep their `seq` and `event_id`; integers travel as JSON numbers and cash amounts as decimal
 * numbers with two places, like the REST api. Every frame is serialized once and sent as the same bytes
 * to every socket that gets it.
 */
import { CASH_SCALE, exactCount, toJsonNumber } from '../../lib/money.js';
import {
  EventType,
  type BookLevel as Level,
  type BookPriceQty as PriceQty,
  type BookTrade,
  type ExecutionReportPayload,
  type MarketUpdatePayload,
  type OrderAcceptedPayload,
  type PublishedAccountEvent,
  type PublishedMarketEvent,
} from '../../temporal/events.js';
import type { FrameType, RequestId } from './protocol.js';

/** One event of an account's feed (temporal/events.ts), as published or as read back. */
export interface AccountEvent {
  seq: number;
  eventId: string;
  /** The published event (relay fields included, the frames leave them out). */
  data: PublishedAccountEvent;
}

/** A `market.update` (temporal/events.ts: prices in cents, quantities in shares), with its time parsed. */
export interface MarketUpdate extends Pick<
  MarketUpdatePayload,
  'symbol' | 'ts' | 'quote' | 'depth' | 'trades'
> {
  eventId: string;
  tsMs: number;
}

export interface Frame {
  type: FrameType;
  [k: string]: unknown;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);

/**
 * An account event off the wire (a Redis message, or a row read back), or undefined when it lacks the
 * sequence number and event id the feed's resume protocol needs. The rest is the event contract.
 */
export function toAccountEvent(raw: unknown): AccountEvent | undefined {
  if (!isRecord(raw)) return undefined;
  const { seq, event_id: eventId, event_type: eventType } = raw;
  if (!isInt(seq) || seq < 1 || typeof eventId !== 'string' || typeof eventType !== 'string')
    return undefined;
  return { seq, eventId, data: raw as unknown as PublishedAccountEvent };
}

/** Cents as a decimal string to a decimal number of dollars. */
const dollars = (cents: string | null): number | null =>
  cents === null ? null : toJsonNumber(BigInt(cents), CASH_SCALE);

const RELAY_FIELDS = new Set([
  'event_id',
  'event_type',
  'seq',
  'workflow_id',
  'reserved_amount',
  'lock_version',
]);

/** The order's identity and terms, as both order frames carry them (no stop price in older events: null). */
const orderFields = (d: OrderAcceptedPayload | ExecutionReportPayload) => ({
  order_id: d.order_id,
  client_order_id: d.client_order_id,
  symbol: d.symbol,
  side: d.side,
  order_type: d.order_type,
  time_in_force: d.time_in_force,
  stop_price: dollars(d.stop_price ?? null),
});

/** The frame for one account event: `execution`, `order_accepted`, or `account_event` for other types. */
export function accountFrame(e: AccountEvent): Frame {
  const d = e.data;
  switch (d.event_type) {
    case EventType.ExecutionReport:
      return {
        type: 'execution',
        seq: e.seq,
        event_id: e.eventId,
        exec_type: d.exec_type,
        ...orderFields(d),
        status: d.status,
        quantity: exactCount(d.quantity),
        price: dollars(d.price),
        triggered_at: d.triggered_at ?? null,
        fill_id: d.fill_id,
        fill_qty: exactCount(d.fill_qty),
        fill_price: dollars(d.fill_price),
        cum_qty: exactCount(d.cum_qty),
        leaves_qty: exactCount(d.leaves_qty),
        reject_reason: d.reject_reason,
        ts: d.ts,
      };
    case EventType.OrderAccepted:
      return {
        type: 'order_accepted',
        seq: e.seq,
        event_id: e.eventId,
        ...orderFields(d),
        quantity: exactCount(d.quantity),
        price: dollars(d.price),
        ts: d.ts,
      };
  }
  return otherAccountFrame(e.seq, e.eventId, d);
}

/** An account event of a type this api does not know (a newer producer's): passed on as it is. */
function otherAccountFrame(seq: number, eventId: string, event: Record<string, unknown>): Frame {
  const data: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(event)) if (!RELAY_FIELDS.has(k)) data[k] = v;
  return {
    type: 'account_event',
    seq,
    event_id: eventId,
    event_type: event.event_type,
    data,
    ts: typeof event.ts === 'string' ? event.ts : null,
  };
}

/** A `market.update` off the wire (a Redis message), or undefined when it is not one. */
export function toMarketUpdate(raw: unknown): MarketUpdate | undefined {
  if (!isRecord(raw) || typeof raw.symbol !== 'string' || typeof raw.ts !== 'string') return undefined;
  const tsMs = Date.parse(raw.ts);
  if (!Number.isFinite(tsMs)) return undefined;
  const m = raw as unknown as PublishedMarketEvent;
  return {
    symbol: m.symbol,
    eventId: m.event_id,
    ts: m.ts,
    tsMs,
    quote: m.quote,
    depth: m.depth,
    trades: m.trades,
  };
}

const money = (cents: number) => toJsonNumber(BigInt(cents), CASH_SCALE);
const side = (l: PriceQty | null) => (l ? { price: money(l.price), quantity: l.qty } : null);
const level = (l: Level) => ({ price: money(l.price), quantity: l.qty, orders: l.orders });

export function quoteFrame(m: MarketUpdate, snapshot = false): Frame {
  const f: Frame = {
    type: 'quote',
    symbol: m.symbol,
    bid: side(m.quote?.bid ?? null),
    ask: side(m.quote?.ask ?? null),
    ts: m.ts,
    event_id: m.eventId || null,
  };
  if (snapshot) f.snapshot = true;
  return f;
}

export function depthFrame(m: MarketUpdate, snapshot = false): Frame {
  const f: Frame = {
    type: 'depth',
    symbol: m.symbol,
    bids: (m.depth?.bids ?? []).map(level),
    asks: (m.depth?.asks ?? []).map(level),
    ts: m.ts,
    event_id: m.eventId || null,
  };
  if (snapshot) f.snapshot = true;
  return f;
}

export function tradeFrame(m: MarketUpdate, t: BookTrade): Frame {
  return {
    type: 'trade',
    symbol: m.symbol,
    price: money(t.price),
    quantity: t.qty,
    trade_seq: t.seq,
    ts: new Date(t.ts).toISOString(),
    event_id: m.eventId || null,
  };
}

/** Identity of the L1 / L2 content, to skip frames that would repeat what subscribers already have. */
export const quoteKey = (m: MarketUpdate) => JSON.stringify(m.quote);
export const depthKey = (m: MarketUpdate) => JSON.stringify(m.depth);

/** Adds the client's request id when there is one. */
export function withId(frame: Frame, id: RequestId): Frame {
  return id === undefined ? frame : { ...frame, id };
}

export const encode = (frame: Frame): Buffer => Buffer.from(JSON.stringify(frame));
