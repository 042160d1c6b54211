ALTER TABLE "orders" ADD COLUMN "self_trade_prevention" text DEFAULT 'cancel_newest' NOT NULL;--> statement-breakpoint
ALTER TABLE "orders" ADD COLUMN "request_fingerprint" text;--> statement-breakpoint
ALTER TABLE "orders" ADD CONSTRAINT "orders_self_trade_prevention_known" CHECK ("orders"."self_trade_prevention" IN ('cancel_newest', 'cancel_oldest', 'cancel_both'));