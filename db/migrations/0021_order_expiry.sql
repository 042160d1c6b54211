-- When a DAY order's time in force ends (its session's close, which the api computes from the session
-- calendar): the trading worker records it with the order, a replace of the time in force moves or
-- clears it, and the matching shard expires a resting order whose expiry has passed before anything can
-- trade in its book (docs/adr/0044-day-orders-expire-in-the-shard.md). Null for GTC, IOC and FOK orders,
-- and for the orders placed before this migration: those expire by their saga's timer alone, as before.
-- A nullable column without a default: no table rewrite, only a moment's lock.
ALTER TABLE "orders" ADD COLUMN "expires_at" timestamp with time zone;
