-- A new order's events are enqueued without waking the relay (docs/adr/0037-placement-events-without-notify.md):
-- the settlement that follows within milliseconds wakes it, and its claim takes both. The relay's poll
-- delivers them if no other commit comes.
DROP FUNCTION enqueue_events(jsonb);--> statement-breakpoint

-- enqueue_events: outbox rows in array order. Account events take the account's next sequence numbers
-- (gap-free per account) and carry it as payload.seq; public events (account_id null) have none. Then,
-- unless p_notify is false, wakes the relays (NOTIFY, delivered at commit).
CREATE FUNCTION enqueue_events(p_events jsonb, p_notify boolean DEFAULT true) RETURNS void
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
  IF p_notify THEN
    PERFORM pg_notify('brokerx_outbox', '');
  END IF;
END
$$;
