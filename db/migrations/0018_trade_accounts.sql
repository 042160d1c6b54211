-- An account's trades by time, without its orders: each trade carries its two orders' accounts, which
-- the settlement copies from the orders it settles (db/queries/settlement.ts). The executions pages
-- (db/queries/executions.ts) and the daily notional of the risk limits (db/queries/controls.ts) read one
-- index range per side instead of joining every order of the account to its trades; the risk limits'
-- open orders and open buys read the account's unfinished orders from a partial index.
--
-- Applied while the system is up (at start, under the migrators' advisory lock), in one transaction:
-- trades stays locked (ACCESS EXCLUSIVE) from the first statement to the commit, and orders' writers
-- wait for its index build. The backfill is one UPDATE ... FROM orders, seconds at this project's scale
-- (hundreds of thousands of trades); settlements wait meanwhile and go on once it commits. Trades is
-- locked before orders, as the settlement statement locks them. The processes start after the
-- migrations (npm start, compose's migrate service); a matching worker of the previous build still
-- running fails its settlements (the accounts are not null) until it is replaced.
ALTER TABLE "trades" ADD COLUMN "buy_account_id" uuid;--> statement-breakpoint
ALTER TABLE "trades" ADD COLUMN "sell_account_id" uuid;--> statement-breakpoint
UPDATE "trades" t SET "buy_account_id" = b."account_id", "sell_account_id" = s."account_id"
FROM "orders" b, "orders" s
WHERE b."id" = t."buy_order_id" AND s."id" = t."sell_order_id";--> statement-breakpoint
ALTER TABLE "trades" ALTER COLUMN "buy_account_id" SET NOT NULL;--> statement-breakpoint
ALTER TABLE "trades" ALTER COLUMN "sell_account_id" SET NOT NULL;--> statement-breakpoint
CREATE INDEX "trades_buy_account_idx" ON "trades" USING btree ("buy_account_id","executed_at","id","buy_order_id");--> statement-breakpoint
CREATE INDEX "trades_sell_account_idx" ON "trades" USING btree ("sell_account_id","executed_at","id","sell_order_id");--> statement-breakpoint
CREATE INDEX "orders_account_open_idx" ON "orders" USING btree ("account_id","symbol","side") WHERE "orders"."status" NOT IN ('filled', 'cancelled', 'expired', 'rejected');
