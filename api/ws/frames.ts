/**
 * From what the outbox relay publishes (workers/outbox/relay.ts) to the frames clients read. Account
 * events keep their `seq` and `event_id`; integers travel as JSON numbers and cash amounts as decimal
 * numbers with two places, like the REST api. Every frame is serialized once and sent as the same bytes
 * to every socket that gets it.
 */
import { CASH_SCALE, toJsonNumber } from '../../lib/money.js';
import type { FrameType, RequestId } from './protocol.js';

/** One event of an account's feed: an outbox row with `account_id`, as published or as read back. */
export interface AccountEvent {
  seq: number;
  eventId: string;
  eventType: string;
  /** The outbox payload (relay fields included, they are ignored). */
  data: Record<string, unknown>;
}

export interface PriceQty {
  price: number;
  qty: number;
}
export interface Level extends PriceQty {
  orders: number;
}
export interface BookTrade extends PriceQty {
  ts: number;
  seq: number;
}

/** A `market.update` (matching/order-book.ts shapes: prices in cents, quantities in shares). */
export interface MarketUpdate {
  symbol: string;
  eventId: string;
  ts: string;
  tsMs: number;
  quote: { bid: PriceQty | null; ask: PriceQty | null } | null;
  depth: { bids: Level[]; asks: Level[] } | null;
  /** Newest first. */
  trades: BookTrade[];
}

export interface Frame {
  type: FrameType;
  [k: string]: unknown;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);

/** A published or stored account event, or undefined when it lacks a seq or event id. */
export function toAccountEvent(raw: unknown): AccountEvent | undefined {
  if (!isRecord(raw)) return undefined;
  const { seq, event_id: eventId, event_type: eventType } = raw;
  if (!isInt(seq) || seq < 1 || typeof eventId !== 'string' || typeof eventType !== 'string')
    return undefined;
  return { seq, eventId, eventType, data: raw };
}

function intOf(v: unknown): number | null {
  if (isInt(v)) return v;
  if (typeof v === 'string' && /^-?\d{1,15}$/.test(v)) return Number(v);
  return null;
}

/** Cents (string or integer) to a decimal number of dollars. */
function moneyOf(v: unknown): number | null {
  if (isInt(v)) return toJsonNumber(BigInt(v), CASH_SCALE);
  if (typeof v === 'string' && /^-?\d{1,18}$/.test(v)) return toJsonNumber(BigInt(v), CASH_SCALE);
  return null;
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

const RELAY_FIELDS = new Set([
  'event_id',
  'event_type',
  'seq',
  'workflow_id',
  'reserved_amount',
  'lock_version',
]);

/** The frame for one account event: `execution`, `order_accepted`, or `account_event` for other types. */
export function accountFrame(e: AccountEvent): Frame {
  const d = e.data;
  if (e.eventType === 'execution.report') {
    return {
      type: 'execution',
      seq: e.seq,
      event_id: e.eventId,
      exec_type: str(d.exec_type),
      order_id: str(d.order_id),
      client_order_id: str(d.client_order_id),
      symbol: str(d.symbol),
      side: str(d.side),
      order_type: str(d.order_type),
      time_in_force: str(d.time_in_force),
      status: str(d.status),
      quantity: intOf(d.quantity),
      price: moneyOf(d.price),
      fill_id: str(d.fill_id),
      fill_qty: intOf(d.fill_qty) ?? 0,
      fill_price: moneyOf(d.fill_price),
      cum_qty: intOf(d.cum_qty),
      leaves_qty: intOf(d.leaves_qty),
      reject_reason: str(d.reject_reason),
      ts: str(d.ts),
    };
  }
  if (e.eventType === 'order.accepted') {
    return {
      type: 'order_accepted',
      seq: e.seq,
      event_id: e.eventId,
      order_id: str(d.order_id),
      client_order_id: str(d.client_order_id),
      symbol: str(d.symbol),
      side: str(d.side),
      order_type: str(d.order_type),
      time_in_force: str(d.time_in_force),
      quantity: intOf(d.quantity),
      price: moneyOf(d.price),
      ts: str(d.ts),
    };
  }
  const data: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(d)) if (!RELAY_FIELDS.has(k)) data[k] = v;
  return {
    type: 'account_event',
    seq: e.seq,
    event_id: e.eventId,
    event_type: e.eventType,
    data,
    ts: str(d.ts),
  };
}

const priceQtyOf = (v: unknown): PriceQty | null =>
  isRecord(v) && isInt(v.price) && isInt(v.qty) ? { price: v.price, qty: v.qty } : null;
const levelsOf = (v: unknown): Level[] =>
  Array.isArray(v)
    ? v
        .filter((l): l is Level => isRecord(l) && isInt(l.price) && isInt(l.qty) && isInt(l.orders))
        .map((l) => ({ price: l.price, qty: l.qty, orders: l.orders }))
    : [];

/** A `market.update` as published, or undefined when malformed. */
export function toMarketUpdate(raw: unknown): MarketUpdate | undefined {
  if (!isRecord(raw) || typeof raw.symbol !== 'string' || typeof raw.ts !== 'string') return undefined;
  const tsMs = Date.parse(raw.ts);
  if (!Number.isFinite(tsMs)) return undefined;
  const q = raw.quote;
  const d = raw.depth;
  const trades = Array.isArray(raw.trades)
    ? raw.trades.filter(
        (t): t is BookTrade => isRecord(t) && isInt(t.price) && isInt(t.qty) && isInt(t.ts) && isInt(t.seq),
      )
    : [];
  return {
    symbol: raw.symbol,
    eventId: typeof raw.event_id === 'string' ? raw.event_id : '',
    ts: raw.ts,
    tsMs,
    quote: isRecord(q) ? { bid: priceQtyOf(q.bid), ask: priceQtyOf(q.ask) } : null,
    depth: isRecord(d) ? { bids: levelsOf(d.bids), asks: levelsOf(d.asks) } : null,
    trades,
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
