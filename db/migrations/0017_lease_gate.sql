-- The fence of a lease held until COMMIT (docs/adr/0042-fence-holds-until-commit.md). Migration
-- 0011's shard_fence fails a settlement batch whose owner no longer holds the shard's lock when its
-- last statement runs; a batch that passed that check could still commit after the lock was lost,
-- behind the next owner's rebuilt books (0011's "never commits" was wrong). Now the check takes the
-- lease's gate first, and the next owner waits for it.
--
-- The gate of lease key k: the same 64 bits as a pair of int4 advisory keys (high, low half), a key
-- space no other lock of BrokerX uses (they all take one bigint key).

-- lease_held: whether backend p_pid holds the session advisory lock p_key (a lease: workers/lease.ts).
-- Before it reads pg_locks, it takes the lease's gate shared, held until the calling transaction ends:
-- a transaction that found the lease held keeps the gate until it committed or rolled back.
CREATE FUNCTION lease_held(p_pid integer, p_key bigint) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  PERFORM pg_advisory_xact_lock_shared((p_key >> 32)::int, p_key::bit(32)::int);
  -- A bigint advisory key shows in pg_locks as classid (high 32 bits) and objid (low 32 bits).
  RETURN EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = p_pid
    AND objsubid = 1 AND classid::int8 = (p_key >> 32) AND objid::int8 = (p_key & 4294967295));
END
$$;

-- lease_drain: called by a new holder of lease p_key right after it took the lock, before it reads
-- anything: takes the gate exclusively and lets it go (a statement of its own: its transaction), so it
-- returns once every transaction that found an earlier holder's lease held has ended. One that checks
-- later finds the lease held by another backend.
CREATE FUNCTION lease_drain(p_key bigint) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  PERFORM pg_advisory_xact_lock((p_key >> 32)::int, p_key::bit(32)::int);
END
$$;
