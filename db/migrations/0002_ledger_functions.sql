-- A journal entry and an outbox write are each one statement (one round trip) instead of one per row
-- (ADR 0014). db/queries/ledger.ts and db/queries/outbox.ts are their only callers.

-- post_entry: one journal entry, its postings and the balance changes, atomically. Returns the entry id,
-- or NULL when an entry with this (kind, reference) exists (then nothing changes). The caller checks that
-- the postings balance. Balance rows change in (account, asset) order, so two entries never deadlock on
-- them. A balance that would go negative (and may not) raises check_violation with the asset as DETAIL.
CREATE FUNCTION post_entry(p_kind text, p_reference text, p_memo text, p_postings jsonb) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  v_id bigint;
  d record;
BEGIN
  INSERT INTO journal_entries (kind, reference, memo) VALUES (p_kind, p_reference, p_memo)
  ON CONFLICT (kind, reference) DO NOTHING
  RETURNING id INTO v_id;
  IF v_id IS NULL THEN
    RETURN NULL;
  END IF;

  INSERT INTO postings (entry_id, account_id, asset, bucket, amount)
  SELECT v_id, p.account_id, p.asset, p.bucket, p.amount
  FROM jsonb_to_recordset(p_postings) AS p(account_id uuid, asset text, bucket text, amount bigint)
  WHERE p.amount <> 0;

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
--> statement-breakpoint

-- enqueue_events: outbox rows in array order. Account events take the account's next sequence numbers
-- (gap-free per account) and carry it as payload.seq; public events (account_id null) have none. Then
-- wakes the relays (NOTIFY, delivered at commit).
CREATE FUNCTION enqueue_events(p_events jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  e record;
  v_seq bigint;
BEGIN
  FOR e IN
    SELECT x.account_id, x.event_type, x.payload
    FROM ROWS FROM (jsonb_to_recordset(p_events) AS (account_id uuid, event_type text, payload jsonb))
         WITH ORDINALITY AS x(account_id, event_type, payload, ord)
    ORDER BY x.ord
  LOOP
    IF e.account_id IS NULL THEN
      INSERT INTO outbox (event_type, payload) VALUES (e.event_type, e.payload);
    ELSE
      INSERT INTO account_sequences (account_id, last_seq) VALUES (e.account_id, 1)
      ON CONFLICT (account_id) DO UPDATE SET last_seq = account_sequences.last_seq + 1
      RETURNING last_seq INTO v_seq;
      INSERT INTO outbox (account_id, account_seq, event_type, payload)
      VALUES (e.account_id, v_seq, e.event_type, jsonb_set(e.payload, '{seq}', to_jsonb(v_seq)));
    END IF;
  END LOOP;
  PERFORM pg_notify('brokerx_outbox', '');
END
$$;
