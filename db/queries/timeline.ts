/**
 * Order timelines (`order_events`): written in the statements that make the changes they record (the
 * saga's reserve and compensation steps, the shard's operations), each event once per order by its key,
 * so a retried step writes nothing twice. Read by GET /api/v1/orders/{id}/timeline.
 */
import { asc, eq, sql, type Placeholder, type SQL } from 'drizzle-orm';
import type { DbOrTx } from '../client.js';
import { orderEvents } from '../schema.js';
import type { OrderEventType } from '../../temporal/orders.js';

export interface OrderEventInput {
  orderId: string;
  /** Unique per order: the type, or the type and what makes it unique (a fill id, a version). */
  key: string;
  at: Date;
  type: OrderEventType;
  /** Customer-visible facts only (amounts as decimal strings). */
  details: Record<string, string | number | null>;
}

/** Events as `insertOrderEventsSql` takes them: one JSON text. */
export function orderEventsJson(events: OrderEventInput[]): string {
  return JSON.stringify(
    events.map((e) => ({
      order_id: e.orderId,
      key: e.key,
      at: e.at.toISOString(),
      type: e.type,
      details: e.details,
    })),
  );
}

/**
 * The INSERT of the events in `rows` (`orderEventsJson`, as a parameter or a placeholder) in their order
 * (nothing for an event already recorded), to run alone or in a larger statement. The statement's text is
 * the same for any number of events (one prepared statement).
 */
export function insertOrderEventsSql(rows: SQL | Placeholder): SQL {
  return sql`INSERT INTO ${orderEvents} (order_id, key, at, type, details)
    SELECT x.order_id, x.key, x.at, x.type, x.details
    FROM ROWS FROM (jsonb_to_recordset(${rows}::jsonb) AS (order_id uuid, key text, at timestamptz, type text, details jsonb))
      WITH ORDINALITY AS x(order_id, key, at, type, details, ord)
    ORDER BY x.ord
    ON CONFLICT (order_id, key) DO NOTHING`;
}

export async function recordOrderEvents(db: DbOrTx, events: OrderEventInput[]): Promise<void> {
  if (events.length) await db.execute(insertOrderEventsSql(sql`${orderEventsJson(events)}`));
}

export type OrderEventRow = typeof orderEvents.$inferSelect;

/** One order's timeline, oldest first (events of one statement in the order they were written). */
export async function orderTimeline(db: DbOrTx, orderId: string): Promise<OrderEventRow[]> {
  return db
    .select()
    .from(orderEvents)
    .where(eq(orderEvents.orderId, orderId))
    .orderBy(asc(orderEvents.at), asc(orderEvents.id));
}
