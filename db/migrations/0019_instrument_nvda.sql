-- A sixth instrument, NVDA. With two matching shards (compose, `npm run start:cluster`) the five of
-- 0001_seed.sql all map to shard 1 (matching/shard.ts), so shard 0 had no symbol to match; NVDA maps to
-- shard 0. Seeded as 0001 seeds the others: its book's sequence row, its balances of the external
-- counterparty and of the house, and 100,000 shares for the house as one balanced journal entry.
INSERT INTO "instruments" ("symbol", "name", "tick_size", "lot_size", "reference_price", "price_band_bps") VALUES
  ('NVDA', 'NVIDIA Corporation', 1, 1, 12000, 2000);
--> statement-breakpoint
INSERT INTO "matching_sequences" ("symbol") VALUES ('NVDA');
--> statement-breakpoint
INSERT INTO "balances" ("account_id", "asset", "allow_negative") VALUES
  ('00000000-0000-0000-0000-000000000001', 'NVDA', true),
  ('00000000-0000-0000-0000-000000000002', 'NVDA', false);
--> statement-breakpoint
SELECT post_entry('seed', 'house-funding-NVDA', 'Initial house liquidity: NVDA', '[
  {"account_id": "00000000-0000-0000-0000-000000000002", "asset": "NVDA", "bucket": "available", "amount": 100000},
  {"account_id": "00000000-0000-0000-0000-000000000001", "asset": "NVDA", "bucket": "available", "amount": -100000}
]'::jsonb);
