/**
 * The order timeline's events from the shard's operations (db/queries/timeline.ts): every execution
 * report the shard announces becomes the customer-visible event it stands for, written in the same
 * statement as the outbox rows (`announce`).
 */
import type { OutboxEvent } from '../db/queries/outbox.js';
import type { SettlementWrites } from '../db/queries/settlement.js';
import type { OrderEventInput } from '../db/queries/timeline.js';
import { CASH_SCALE, formatDecimal } from '../lib/money.js';
import { EventType, type ExecType, type ExecutionReportPayload } from '../temporal/events.js';
import type { OrderEventType } from '../temporal/orders.js';

const usd = (cents: string | null) => (cents === null ? null : formatDecimal(BigInt(cents), CASH_SCALE));

/** Each execution report as a timeline event: its type, what makes it unique, what the customer sees. */
const FROM_EXEC: Record<
  ExecType,
  | ((r: ExecutionReportPayload) => {
      type: OrderEventType;
      key: string;
      details: OrderEventInput['details'];
    })
  | null
> = {
  new: null, // the shard records `accepted` itself, also for an order that trades at once
  partial_fill: (r) => fill(r),
  fill: (r) => fill(r),
  canceled: (r) => ({ type: 'cancelled', key: 'cancelled', details: { filled_quantity: r.cum_qty } }),
  expired: (r) => ({ type: 'expired', key: 'expired', details: { filled_quantity: r.cum_qty } }),
  replaced: (r) => ({
    type: 'replaced',
    key: `replaced:${r.lock_version}`,
    details: {
      quantity: r.quantity,
      price: usd(r.price),
      // Stop and stop-limit orders (replaced before they trigger): the stop price, as received carries it.
      ...(r.stop_price ? { stop_price: usd(r.stop_price) } : {}),
      lock_version: r.lock_version,
    },
  }),
  rejected: (r) => ({ type: 'rejected', key: 'rejected', details: { reason: r.reject_reason } }),
  triggered: (r) => ({
    type: 'triggered',
    key: 'triggered',
    details: { stop_price: usd(r.stop_price ?? null) },
  }),
};

function fill(r: ExecutionReportPayload) {
  return {
    type: 'fill' as const,
    key: `fill:${r.fill_id}`,
    details: {
      trade_id: r.fill_id,
      quantity: r.fill_qty,
      price: usd(r.fill_price),
      filled_quantity: r.cum_qty,
      status: r.status,
    },
  };
}

export function timelineOf(events: OutboxEvent[]): OrderEventInput[] {
  const out: OrderEventInput[] = [];
  for (const e of events) {
    if (e.eventType !== EventType.ExecutionReport) continue;
    const mapped = FROM_EXEC[e.payload.exec_type]?.(e.payload);
    if (mapped) out.push({ orderId: e.payload.order_id, at: new Date(e.payload.ts), ...mapped });
  }
  return out;
}

/**
 * Announce an operation's changes: the outbox rows and the timeline events they stand for (plus
 * `extra` events the reports do not carry), written with the rest of the operation's writes.
 */
export function announce(w: SettlementWrites, events: OutboxEvent[], extra: OrderEventInput[] = []): void {
  w.events.push(...events);
  w.timeline.push(...extra, ...timelineOf(events));
}
