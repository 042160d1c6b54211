-- The relay's claim reads the pending rows instead of leasing each one (docs/adr/0036-outbox-claim-without-row-leases.md).
-- One relay relays at a time (the advisory lease of docs/adr/0035-one-active-outbox-relay.md), so a lease
-- per row kept nothing from another relay; it cost every relayed row one more write (a new version of
-- the row with its payload), and it held a dead relay's rows back from the standby until it ran out.
-- A relay that loses its lease and runs on for a moment beside the new one may deliver a row twice,
-- which at-least-once delivery already allows (the sagas, the mails and the feed drop duplicates).
--
-- lease_until keeps only its other use, a failed row's backoff: renamed retry_at. A failed attempt is
-- counted when the row is put back (db/queries/outbox.ts markOutboxFailed), no longer at every claim.
ALTER TABLE "outbox" RENAME COLUMN "lease_until" TO "retry_at";--> statement-breakpoint
DROP FUNCTION claim_outbox(uuid[], integer, integer);--> statement-breakpoint

-- claim_outbox: mark done the rows of the caller's previous batch that it delivered, then return up to
-- p_limit pending rows whose retry time has come, oldest first, each with the number of this delivery
-- attempt (its failed attempts + 1). Bitmap scans off for the reason of migration 0010: an index scan
-- in the claim's order marks the relayed rows' dead index entries as it passes, so later claims skip them.
CREATE FUNCTION claim_outbox(p_done uuid[], p_limit integer)
RETURNS TABLE (id uuid, account_id uuid, account_seq bigint, event_type text, payload jsonb, attempts integer,
               created_at timestamptz)
LANGUAGE plpgsql
SET enable_bitmapscan = off
AS $$
#variable_conflict use_column
BEGIN
  UPDATE outbox o SET status = 'done', processed_at = now()
  FROM unnest(p_done) AS d(id)
  WHERE o.id = d.id AND o.status = 'pending';

  RETURN QUERY
  SELECT x.id, x.account_id, x.account_seq, x.event_type, x.payload, x.attempts + 1, x.created_at
  FROM outbox x
  WHERE x.status = 'pending' AND (x.retry_at IS NULL OR x.retry_at <= now())
  ORDER BY x.created_at, x.account_seq
  LIMIT p_limit;
END $$;
