-- settlement_rows_current: a settlement's check that the orders it wrote without reading them were not
-- changed by another writer since the shard last wrote them (the shard's books hold the rows of their
-- resting orders: docs/adr/0034-resting-rows-in-the-shard.md). The settlement statement
-- (db/queries/settlement.ts) updates such a row only where it still holds what the shard expects, and
-- passes whether it updated every row it was given: false fails the statement, so the batch rolls back,
-- its books and rows are reloaded from Postgres, and the operation's retry reads the changed row.
CREATE FUNCTION settlement_rows_current(p_current boolean) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  IF p_current IS NOT TRUE THEN
    RAISE EXCEPTION 'an order changed outside the shard since the shard last wrote it' USING ERRCODE = 'BXS01';
  END IF;
  RETURN true;
END
$$;
