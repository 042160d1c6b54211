ALTER TABLE "matching_sequences" ADD COLUMN "last_price" bigint;--> statement-breakpoint
ALTER TABLE "orders" ADD COLUMN "stop_price" bigint;--> statement-breakpoint
ALTER TABLE "orders" ADD COLUMN "triggered_at" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "orders_pending_stop_idx" ON "orders" USING btree ("symbol","book_seq") WHERE "orders"."status" = 'pending_trigger';--> statement-breakpoint
ALTER TABLE "orders" ADD CONSTRAINT "orders_stop_price" CHECK (("orders"."order_type" IN ('stop', 'stop_limit')) = ("orders"."stop_price" IS NOT NULL) AND ("orders"."stop_price" IS NULL OR "orders"."stop_price" > 0));--> statement-breakpoint
-- Books that traded before this migration: their last trade price (stops placed later compare with it).
UPDATE "matching_sequences" m SET "last_price" = (
  SELECT t."price" FROM "trades" t WHERE t."symbol" = m."symbol" ORDER BY t."executed_at" DESC, t."id" DESC LIMIT 1);
