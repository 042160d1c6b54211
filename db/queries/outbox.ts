/** Outbox writes: rows are added in the same transaction as the change they announce. */
import { sql, type SQL } from 'drizzle-orm';
import type { DbOrTx } from '../client.js';

export interface OutboxEvent {
  /** Null for public events (market data); else the account whose feed carries it. */
  accountId: string | null;
  eventType: string;
  payload: Record<string, unknown>;
}

/** The `enqueue_events(...)` call for these events, to run alone or inside a larger statement. */
export function enqueueEventsCall(events: OutboxEvent[]): SQL {
  const rows = JSON.stringify(events.map((e) => ({ account_id: e.accountId, event_type: e.eventType, payload: e.payload })));
  return sql`enqueue_events(${rows}::jsonb)`;
}

/**
 * Enqueue events in one statement (the `enqueue_events` function, db/migrations/0002_ledger_functions.sql):
 * account events get the account's next sequence numbers (gap-free per account), then the relays are
 * woken (NOTIFY brokerx_outbox, delivered at commit).
 */
export async function enqueueEvents(tx: DbOrTx, events: OutboxEvent[]): Promise<void> {
  if (events.length === 0) return;
  await tx.execute(sql`SELECT ${enqueueEventsCall(events)}`);
}
