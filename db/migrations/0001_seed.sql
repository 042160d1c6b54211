-- Seed: instruments, the external counterparty and the house liquidity account.
-- Account ids are fixed so code and docs can name them (see db/accounts.ts).
--   00000000-0000-0000-0000-000000000001  external: the outside world (bank for cash, issuer for shares); may go negative
--   00000000-0000-0000-0000-000000000002  house: BrokerX's liquidity account, funded like any other through the ledger
INSERT INTO "instruments" ("symbol", "name", "tick_size", "lot_size", "reference_price", "price_band_bps") VALUES
  ('AAPL', 'Apple Inc.', 1, 1, 19000, 2000),
  ('MSFT', 'Microsoft Corporation', 1, 1, 42000, 2000),
  ('TSLA', 'Tesla, Inc.', 1, 1, 25000, 2000),
  ('AMZN', 'Amazon.com, Inc.', 1, 1, 18500, 2000),
  ('GOOG', 'Alphabet Inc.', 1, 1, 17000, 2000);
--> statement-breakpoint
INSERT INTO "matching_sequences" ("symbol") SELECT "symbol" FROM "instruments";
--> statement-breakpoint
INSERT INTO "accounts" ("id", "kind", "name") VALUES
  ('00000000-0000-0000-0000-000000000001', 'external', 'External counterparty (bank, issuer)'),
  ('00000000-0000-0000-0000-000000000002', 'house', 'BrokerX house liquidity');
--> statement-breakpoint
INSERT INTO "balances" ("account_id", "asset", "allow_negative")
  SELECT '00000000-0000-0000-0000-000000000001'::uuid, a, true FROM (SELECT 'USD' AS a UNION ALL SELECT "symbol" FROM "instruments") s;
--> statement-breakpoint
INSERT INTO "balances" ("account_id", "asset")
  SELECT '00000000-0000-0000-0000-000000000002'::uuid, a FROM (SELECT 'USD' AS a UNION ALL SELECT "symbol" FROM "instruments") s;
--> statement-breakpoint
-- Fund the house: $10,000,000.00 and 100,000 shares of each instrument, as one balanced journal entry.
WITH e AS (
  INSERT INTO "journal_entries" ("kind", "reference", "memo") VALUES ('seed', 'house-funding', 'Initial house liquidity') RETURNING "id"
), amounts AS (
  SELECT 'USD' AS asset, 1000000000::bigint AS amount
  UNION ALL SELECT "symbol", 100000::bigint FROM "instruments"
)
INSERT INTO "postings" ("entry_id", "account_id", "asset", "bucket", "amount")
  SELECT e.id, '00000000-0000-0000-0000-000000000002'::uuid, asset, 'available', amount FROM e, amounts
  UNION ALL
  SELECT e.id, '00000000-0000-0000-0000-000000000001'::uuid, asset, 'available', -amount FROM e, amounts;
--> statement-breakpoint
UPDATE "balances" b SET "available" = p.total
  FROM (SELECT "account_id", "asset", sum("amount") AS total FROM "postings" GROUP BY 1, 2) p
  WHERE b."account_id" = p."account_id" AND b."asset" = p."asset";
