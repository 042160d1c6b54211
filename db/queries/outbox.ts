/**
 * The outbox: rows are added in the same transaction as the change they announce (the event contract
 * is temporal/events.ts), then claimed, published and marked by the relay (workers/outbox/relay.ts),
 * which also deletes the done rows past their use (`pruneOutbox`).
 * The relay's queries take the postgres.js client it also LISTENs on.
 */
import { sql, type Placeholder, type SQL } from 'drizzle-orm';
import type { DbOrTx, Sql } from '../client.js';
import type { OutboxEvent, StoredEvent } from '../../temporal/events.js';

export type { OutboxEvent } from '../../temporal/events.js';

/** Events as `enqueueEventsCall` takes them: one JSON text. */
export function outboxJson(events: OutboxEvent[]): string {
  return JSON.stringify(
    events.map((e) => ({ account_id: e.accountId, event_type: e.eventType, payload: e.payload })),
  );
}

/**
 * The `enqueue_events(...)` call for the events in `rows` (`outboxJson`, as a parameter or a placeholder);
 * `{ notify: false }` leaves the relay asleep (a new order's events: the settlement right after it wakes
 * the relay, ADR 0037).
 */
export function enqueueEventsCall(rows: SQL | Placeholder, opts: { notify?: boolean } = {}): SQL {
  return opts.notify === false
    ? sql`enqueue_events(${rows}::jsonb, false)`
    : sql`enqueue_events(${rows}::jsonb)`;
}

/**
 * Enqueue events in one statement (the `enqueue_events` function, as of
 * db/migrations/0014_placement_events_without_notify.sql): account events get the account's next sequence
 * numbers (gap-free per account), then the relays are woken (NOTIFY brokerx_outbox, delivered at commit).
 */
export async function enqueueEvents(tx: DbOrTx, events: OutboxEvent[]): Promise<void> {
  if (events.length === 0) return;
  await tx.execute(sql`SELECT ${enqueueEventsCall(sql`${outboxJson(events)}`)}`);
}

// ---- the relay ----------------------------------------------------------------------------------

/** An outbox row as claimed: its event type decides its payload's shape. */
export type OutboxRow = {
  id: string;
  account_id: string | null;
  account_seq: bigint | null;
  attempts: number;
  /** An earlier attempt published it (a later step of it failed): not published again. */
  published: boolean;
  /** drizzle's postgres.js setup hands raw queries timestamps as strings. */
  created_at: Date | string;
} & StoredEvent;

/**
 * Claim up to `limit` pending rows whose retry time has come, in insert order (`pos`, ADR 0041), `attempts`
 * being this delivery's attempt; first, in the same call, mark `done` the rows of the relay's previous
 * batch that it delivered. The claim writes nothing to the rows it returns: one relay relays at a time
 * (its advisory lease, docs/adr/0035-one-active-outbox-relay.md), so the rows need no lease of their own
 * (docs/adr/0036-outbox-claim-without-row-leases.md). One round trip: the `claim_outbox` function
 * (db/migrations/0016_outbox_claim_in_insert_order.sql; 0010 says why its scan must be an index scan).
 */
export async function claimOutboxRows(db: Sql, p: { limit: number; done: string[] }): Promise<OutboxRow[]> {
  return db<OutboxRow[]>`SELECT * FROM claim_outbox(${p.done}::uuid[], ${p.limit}::int)`;
}

/**
 * Mark relayed rows done (a relay that stops: no next claim will): the claim's own first step, claiming
 * nothing after it.
 */
export async function markOutboxDone(db: Sql, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  await claimOutboxRows(db, { limit: 0, done: ids });
}

/**
 * A failed row goes back to pending, claimed again after `backoffSeconds`, or dead; its failed attempt
 * counted, and `published` kept once an attempt published it. Only a pending row: a relay that lost its
 * lease unawares must not put back a row that the relay after it marked done (or dead).
 */
export async function markOutboxFailed(
  db: Sql,
  p: { id: string; dead: boolean; error: string; backoffSeconds: number; published: boolean },
): Promise<void> {
  await db`
    UPDATE outbox SET status = ${p.dead ? 'dead' : 'pending'}, last_error = ${p.error.slice(0, 500)},
      attempts = attempts + 1, retry_at = now() + make_interval(secs => ${p.backoffSeconds}),
      published = published OR ${p.published}
    WHERE id = ${p.id} AND status = 'pending'`;
}

/**
 * Delete up to `limit` done rows without an account (market data: nothing reads them once published) and
 * up to `limit` done account events older than `retentionDays`, oldest first; pending and dead rows stay.
 * One round trip: the `prune_outbox` function (db/migrations/0020_outbox_prune.sql says why a function).
 */
export async function pruneOutbox(
  db: Sql,
  p: { retentionDays: number; limit: number },
): Promise<{ market: number; expired: number }> {
  const [row] = await db<{ market: number; expired: number }[]>`
    SELECT market, expired FROM prune_outbox(${p.retentionDays}::int, ${p.limit}::int)`;
  return { market: row?.market ?? 0, expired: row?.expired ?? 0 };
}

/** Pending rows and the age of the oldest, in seconds. */
export async function outboxBacklog(db: Sql): Promise<{ pending: number; ageSeconds: number }> {
  const [row] = await db<{ n: number; age: number | null }[]>`
    SELECT count(*)::int AS n, extract(epoch FROM now() - min(created_at))::float8 AS age FROM outbox WHERE status = 'pending'`;
  return { pending: row?.n ?? 0, ageSeconds: row?.age ?? 0 };
}

/**
 * Dead rows by event type (the types with none are absent), read through their partial index
 * (`outbox_dead_idx`, migration 0023); the relay reads it every `attentionIntervalMs`.
 */
export async function outboxDeadRows(db: Sql): Promise<{ eventType: string; dead: number }[]> {
  const rows = await db<{ event_type: string; n: number }[]>`
    SELECT event_type, count(*)::int AS n FROM outbox WHERE status = 'dead' GROUP BY event_type`;
  return rows.map((r) => ({ eventType: r.event_type, dead: r.n }));
}

/**
 * The e-mail address of an account's owner (none for the house and external accounts). Neither an
 * account's owner nor a user's address ever changes, so the relay caches the answer.
 */
export async function accountEmail(db: Sql, accountId: string): Promise<string | undefined> {
  const [user] = await db<{ email: string }[]>`
    SELECT u.email FROM accounts a JOIN users u ON u.id = a.user_id WHERE a.id = ${accountId}`;
  return user?.email;
}
