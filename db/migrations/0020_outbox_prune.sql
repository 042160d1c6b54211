-- The outbox's retention (docs/adr/0043-outbox-retention.md): the active relay deletes, in batches, the done
-- rows without an account (market data: nothing reads them once published) and the done account events
-- older than OUTBOX_RETENTION_DAYS (the feed's resume and the auditor read no further back). Pending and
-- dead rows stay.
--
-- outbox_done_idx holds the done account events in created_at order, so a batch reads the oldest first
-- and no more. The market data needs no index of its own: outbox_account_seq_key holds the rows without
-- an account together (its null account_id), and it stays small, as they are deleted soon after they are
-- relayed.
--
-- On a large outbox the index build below holds off outbox writes (so settlements) for one scan of the
-- table: apply it in a quiet minute, or build the index first by hand with
-- `CREATE INDEX CONCURRENTLY IF NOT EXISTS` and this statement, which then skips it.
CREATE INDEX IF NOT EXISTS "outbox_done_idx" ON "outbox" USING btree ("created_at") WHERE "outbox"."status" = 'done' AND "outbox"."account_id" IS NOT NULL;--> statement-breakpoint

-- prune_outbox: delete up to p_limit done rows without an account, and up to p_limit done account events
-- created more than p_retention_days ago, oldest first; returns how many of each. Bitmap and sequential
-- scans off, for the reason of migration 0010: the ordered index scans mark the entries of the rows
-- deleted before dead as they pass, and the next batches skip them; a bitmap scan would read every such
-- entry and its heap page on every batch until a vacuum, a sequential scan the whole table.
CREATE FUNCTION prune_outbox(p_retention_days integer, p_limit integer)
RETURNS TABLE (market integer, expired integer)
LANGUAGE plpgsql
SET enable_bitmapscan = off
SET enable_seqscan = off
AS $$
BEGIN
  DELETE FROM outbox WHERE id IN (
    SELECT o.id FROM outbox o WHERE o.account_id IS NULL AND o.status = 'done' LIMIT p_limit);
  GET DIAGNOSTICS market = ROW_COUNT;

  DELETE FROM outbox WHERE id IN (
    SELECT o.id FROM outbox o
    WHERE o.account_id IS NOT NULL AND o.status = 'done'
      AND o.created_at < now() - make_interval(days => p_retention_days)
    ORDER BY o.created_at
    LIMIT p_limit);
  GET DIAGNOSTICS expired = ROW_COUNT;

  RETURN NEXT;
END $$;
