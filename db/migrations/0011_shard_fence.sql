-- shard_fence: the matching shard's fence as a statement's failure. A settlement's last statement
-- evaluates whether its process still holds the shard's lock (workers/matching/ownership.ts) through this
-- function: true, or an error, which aborts the transaction. The COMMIT can then be sent behind that
-- statement without waiting for its answer (shard/batcher.ts): a COMMIT of an aborted transaction rolls it
-- back, so a batch whose owner lost the lock never commits.
CREATE FUNCTION shard_fence(p_held boolean) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  IF p_held IS NOT TRUE THEN
    RAISE EXCEPTION 'the shard lock is no longer held by this process' USING ERRCODE = 'BXF01';
  END IF;
  RETURN true;
END
$$;
