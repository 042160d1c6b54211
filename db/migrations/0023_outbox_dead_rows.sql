-- The dead outbox rows by type: the active relay counts them every ATTENTION_INTERVAL_SECONDS for the
-- OutboxDeadLetters alert (workers/outbox/relay.ts, db/queries/outbox.ts `outboxDeadRows`). Without this
-- index the count read the whole outbox, a week of events (docs/adr/0043-outbox-retention.md); dead rows
-- are few, so the partial index stays small, and only a row marked dead or requeued writes to it.
--
-- On a large outbox the index build below holds off outbox writes (so settlements) for one scan of the
-- table: apply it in a quiet minute, or build the index first by hand with
-- `CREATE INDEX CONCURRENTLY IF NOT EXISTS` and this statement, which then skips it.
CREATE INDEX IF NOT EXISTS "outbox_dead_idx" ON "outbox" USING btree ("event_type") WHERE "outbox"."status" = 'dead';
