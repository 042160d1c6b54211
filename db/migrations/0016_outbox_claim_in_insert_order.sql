-- The relay claims the outbox in insert order (docs/adr/0041-outbox-claim-in-insert-order.md): `pos`, which
-- every insert takes from a sequence, replaces (created_at, account_seq) as the claim's order. created_at is
-- the inserting transaction's start, the same for all its rows: the rows of one transaction without an
-- account_seq (a shard batch's market updates) tied and came back in the heap's order, so the relay took an
-- older book of a symbol for its newest; and an account's event of a transaction that started first but
-- committed last was claimed before the account's earlier events. An account's rows take their pos while
-- their transaction holds the account's sequence row, so pos follows account_seq.
--
-- `published`: a failed row whose publish went through (its signal or mail failed) is not published again
-- when it is retried.
--
-- The column has no default while it is added, so the table is not rewritten (the outbox keeps every row:
-- the feed's history): the rows already done keep a NULL pos, the others are numbered in their old claim
-- order. The index build below holds off outbox writes (so settlements) for one scan of the table: apply
-- it in a quiet minute.
CREATE SEQUENCE "outbox_pos_seq";--> statement-breakpoint
ALTER TABLE "outbox" ADD COLUMN "pos" bigint;--> statement-breakpoint
ALTER TABLE "outbox" ALTER COLUMN "pos" SET DEFAULT nextval('outbox_pos_seq');--> statement-breakpoint
ALTER SEQUENCE "outbox_pos_seq" OWNED BY "outbox"."pos";--> statement-breakpoint
ALTER TABLE "outbox" ADD COLUMN "published" boolean DEFAULT false NOT NULL;--> statement-breakpoint
UPDATE "outbox" o SET "pos" = r.n
FROM (SELECT x.id, row_number() OVER (ORDER BY x.created_at, x.account_seq, x.id) AS n
      FROM "outbox" x WHERE x.status <> 'done') r
WHERE o.id = r.id;--> statement-breakpoint
SELECT setval('outbox_pos_seq', max("pos")) FROM "outbox" HAVING max("pos") IS NOT NULL;--> statement-breakpoint
DROP INDEX "outbox_pending_idx";--> statement-breakpoint
CREATE INDEX "outbox_pending_idx" ON "outbox" USING btree ("pos") WHERE "outbox"."status" = 'pending';--> statement-breakpoint
DROP FUNCTION claim_outbox(uuid[], integer);--> statement-breakpoint

-- claim_outbox: mark done the rows of the caller's previous batch that it delivered, then return up to
-- p_limit pending rows whose retry time has come, in insert order, each with the number of this delivery
-- attempt (its failed attempts + 1) and whether an earlier attempt published it. Bitmap scans off for the
-- reason of migration 0010: an index scan in the claim's order marks the relayed rows' dead index entries
-- as it passes, so later claims skip them.
CREATE FUNCTION claim_outbox(p_done uuid[], p_limit integer)
RETURNS TABLE (id uuid, account_id uuid, account_seq bigint, event_type text, payload jsonb, attempts integer,
               published boolean, created_at timestamptz)
LANGUAGE plpgsql
SET enable_bitmapscan = off
AS $$
#variable_conflict use_column
BEGIN
  UPDATE outbox o SET status = 'done', processed_at = now()
  FROM unnest(p_done) AS d(id)
  WHERE o.id = d.id AND o.status = 'pending';

  RETURN QUERY
  SELECT x.id, x.account_id, x.account_seq, x.event_type, x.payload, x.attempts + 1, x.published, x.created_at
  FROM outbox x
  WHERE x.status = 'pending' AND (x.retry_at IS NULL OR x.retry_at <= now())
  ORDER BY x.pos
  LIMIT p_limit;
END $$;
