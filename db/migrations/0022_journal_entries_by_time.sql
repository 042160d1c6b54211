-- The statement's pages (db/queries/statement.ts): an account's lines of a period in (created_at, entry
-- id) order, from a page's cursor on. Without this index the lines query read every account's journal
-- entries (a sequential scan of the table) for any period, however short; with it a page reads the
-- entries of its stretch of time in order and stops once it has its lines. An account with few postings
-- is still read through postings_account_idx, when the planner finds that cheaper.
--
-- On a large ledger the index build below holds off journal writes (so settlements) for one scan of the
-- table: apply it in a quiet minute, or build the index first by hand with
-- `CREATE INDEX CONCURRENTLY IF NOT EXISTS` and this statement, which then skips it.
CREATE INDEX IF NOT EXISTS "journal_entries_created_at_idx" ON "journal_entries" USING btree ("created_at","id");
