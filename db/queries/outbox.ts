/** Outbox writes: rows are added in the same transaction as the change they announce. */
import { sql } from 'drizzle-orm';
import type { DbOrTx } from '../client.js';

export interface OutboxEvent {
  /** Null for public events (market data); else the account whose feed carries it. */
  accountId: string | null;
  eventType: string;
  payload: Record<string, unknown>;
}

/** Enqueue events; account events get the account's next sequence numbers (gap-free per account). */
export async function enqueueEvents(tx: DbOrTx, events: OutboxEvent[]): Promise<void> {
  for (const e of events) {
    if (e.accountId === null) {
      await tx.execute(sql`INSERT INTO outbox (event_type, payload) VALUES (${e.eventType}, ${JSON.stringify(e.payload)}::jsonb)`);
      continue;
    }
    await tx.execute(sql`
      WITH seq AS (
        INSERT INTO account_sequences (account_id, last_seq) VALUES (${e.accountId}::uuid, 1)
        ON CONFLICT (account_id) DO UPDATE SET last_seq = account_sequences.last_seq + 1
        RETURNING last_seq
      )
      INSERT INTO outbox (account_id, account_seq, event_type, payload)
      SELECT ${e.accountId}::uuid, seq.last_seq, ${e.eventType},
             jsonb_set(${JSON.stringify(e.payload)}::jsonb, '{seq}', to_jsonb(seq.last_seq))
      FROM seq`);
  }
  await tx.execute(sql`NOTIFY brokerx_outbox`);
}
