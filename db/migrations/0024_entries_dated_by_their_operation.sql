-- post_entry dates its entry (journal_entries.created_at, by which an account's statement places it in
-- time) at p_at when given, else at its transaction's start (now()) as before. A matching shard's
-- operation gives its own time, the time its trades record as executed_at: before, a trade's entry was
-- dated by its batch's transaction start and the trade by the shard's clock, read later, so a trade
-- executed at a month's first instant showed on the statement of the month before, against its
-- confirmation (db/queries/settlement.ts). A call without p_at is unchanged.
DROP FUNCTION post_entry(text, text, text, jsonb);--> statement-breakpoint

-- post_entry: one journal entry, its postings and the balance changes, atomically. Returns the entry id,
-- or NULL when an entry with this (kind, reference) exists (then nothing changes). The caller checks that
-- the postings balance. The accounts' sequence rows are locked first, then the balance rows change in
-- (account, asset) order, so two entries never deadlock on them, nor an entry and the account events
-- enqueued after it. A balance that would go negative (and may not) raises check_violation with the
-- asset as DETAIL. p_at: the entry's date (NULL: the transaction's start).
CREATE FUNCTION post_entry(p_kind text, p_reference text, p_memo text, p_postings jsonb,
  p_at timestamptz DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  v_id bigint;
  d record;
BEGIN
  INSERT INTO journal_entries (kind, reference, memo, created_at)
  VALUES (p_kind, p_reference, p_memo, coalesce(p_at, now()))
  ON CONFLICT (kind, reference) DO NOTHING
  RETURNING id INTO v_id;
  IF v_id IS NULL THEN
    RETURN NULL;
  END IF;

  INSERT INTO postings (entry_id, account_id, asset, bucket, amount)
  SELECT v_id, p.account_id, p.asset, p.bucket, p.amount
  FROM jsonb_to_recordset(p_postings) AS p(account_id uuid, asset text, bucket text, amount bigint)
  WHERE p.amount <> 0;

  -- Sequence rows before balance rows (an account without events yet has none to lock), with the lock
  -- that enqueue_events' update of them takes anyway.
  PERFORM 1 FROM account_sequences s
  WHERE s.account_id IN (
    SELECT p.account_id FROM jsonb_to_recordset(p_postings) AS p(account_id uuid, amount bigint)
    WHERE p.amount <> 0)
  ORDER BY s.account_id
  FOR NO KEY UPDATE;

  FOR d IN
    SELECT p.account_id, p.asset,
           coalesce(sum(p.amount) FILTER (WHERE p.bucket = 'available'), 0)::bigint AS available,
           coalesce(sum(p.amount) FILTER (WHERE p.bucket = 'reserved'), 0)::bigint AS reserved
    FROM jsonb_to_recordset(p_postings) AS p(account_id uuid, asset text, bucket text, amount bigint)
    WHERE p.amount <> 0
    GROUP BY p.account_id, p.asset
    ORDER BY p.account_id, p.asset
  LOOP
    UPDATE balances b
    SET available = b.available + d.available, reserved = b.reserved + d.reserved, updated_at = now()
    WHERE b.account_id = d.account_id AND b.asset = d.asset
      AND (b.allow_negative OR (b.available + d.available >= 0 AND b.reserved + d.reserved >= 0));
    CONTINUE WHEN FOUND;
    -- Not updated: the row is missing, or the change would take it below zero.
    IF d.available < 0 OR d.reserved < 0
       OR EXISTS (SELECT 1 FROM balances b WHERE b.account_id = d.account_id AND b.asset = d.asset) THEN
      RAISE EXCEPTION 'Insufficient % balance', d.asset USING ERRCODE = 'check_violation', DETAIL = d.asset;
    END IF;
    -- A first balance of this asset (a concurrent first insert is added to, under the CHECK).
    INSERT INTO balances (account_id, asset, available, reserved)
    VALUES (d.account_id, d.asset, d.available, d.reserved)
    ON CONFLICT (account_id, asset) DO UPDATE
      SET available = balances.available + EXCLUDED.available,
          reserved = balances.reserved + EXCLUDED.reserved,
          updated_at = now();
  END LOOP;
  RETURN v_id;
END
$$;
