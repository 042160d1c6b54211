/**
 * Market data over REST, beside the live feed: quote (L1) and depth (L2) per symbol, and last trades.
 * Read from Postgres (the books' source of truth), cached in Redis for a second; the outbox relay
 * deletes a symbol's cache keys whenever its book changes, so a read after a change is fresh.
 * Public: quotes carry no account data.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { getInstrument } from '../../db/queries/orders.js';
import { bookDepth, lastTrades, type Level } from '../../db/queries/market.js';
import { marketCacheKeys } from '../../lib/redis-keys.js';
import { CASH_SCALE, exactNumber, formatDecimal, toJsonNumber } from '../../lib/money.js';
import { createRouter, problemResponses } from '../openapi.js';
import { ApiError } from '../problem.js';
import type { ApiDeps } from '../types.js';

const CACHE_TTL_MS = 1000;

const Symbol = z.object({
  symbol: z
    .string()
    .trim()
    .toUpperCase()
    .pipe(z.string().regex(/^[A-Z][A-Z0-9.]{0,9}$/, 'must be a ticker symbol')),
});
const LevelSchema = z.object({
  price: z.number(),
  price_exact: z.string(),
  quantity: z.number(),
  orders: z.number(),
});
const QuoteSide = LevelSchema.nullable();
const MarketSchema = z
  .object({
    success: z.literal(true),
    symbol: z.string(),
    quote: z.object({ bid: QuoteSide, ask: QuoteSide, spread: z.number().nullable() }),
    depth: z.object({ bids: z.array(LevelSchema), asks: z.array(LevelSchema) }),
    reference_price: z.number(),
    as_of: z.string(),
  })
  .openapi('Market');
const TradesSchema = z
  .object({
    success: z.literal(true),
    symbol: z.string(),
    trades: z.array(
      z.object({ id: z.string(), price: z.number(), quantity: z.number(), executed_at: z.string() }),
    ),
  })
  .openapi('Trades');

const level = (l: Level) => ({
  price: toJsonNumber(l.price, CASH_SCALE),
  price_exact: formatDecimal(l.price, CASH_SCALE),
  quantity: exactNumber(l.quantity),
  orders: l.orders,
});

export function marketRoutes(deps: ApiDeps) {
  const db = deps.database.db;
  const { redis } = deps;
  const app = createRouter();

  /** Read-through cache: a JSON body per key, computed on a miss. Redis down: served from Postgres (ADR 0017). */
  async function cached<T>(key: string, compute: () => Promise<T>): Promise<T> {
    const hit = await redis.get(key).catch(() => null);
    if (hit) return JSON.parse(hit) as T;
    const value = await compute();
    await redis.set(key, JSON.stringify(value), 'PX', CACHE_TTL_MS).catch(() => undefined);
    return value;
  }

  async function known(symbol: string) {
    const instrument = await getInstrument(db, symbol);
    if (!instrument) throw new ApiError('not_found', `Unknown symbol ${symbol}`);
    return instrument;
  }

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/market/{symbol}',
      tags: ['market data'],
      summary: 'Quote (L1) and depth (L2, 10 levels) of a symbol',
      request: { params: Symbol },
      responses: {
        200: { description: 'Quote and depth', content: { 'application/json': { schema: MarketSchema } } },
        ...problemResponses(404, 422),
      },
    }),
    async (c) => {
      const { symbol } = c.req.valid('param');
      const [key] = marketCacheKeys(deps.config.REDIS_PREFIX, symbol);
      const body = await cached(key, async () => {
        const instrument = await known(symbol);
        const d = await bookDepth(db, symbol, 10);
        const bid = d.bids[0] ? level(d.bids[0]) : null;
        const ask = d.asks[0] ? level(d.asks[0]) : null;
        return {
          success: true as const,
          symbol,
          quote: {
            bid,
            ask,
            spread:
              d.bids[0] && d.asks[0] ? toJsonNumber(d.asks[0].price - d.bids[0].price, CASH_SCALE) : null,
          },
          depth: { bids: d.bids.map(level), asks: d.asks.map(level) },
          reference_price: toJsonNumber(instrument.referencePrice, CASH_SCALE),
          as_of: deps.now().toISOString(),
        };
      });
      return c.json(body, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/market/{symbol}/trades',
      tags: ['market data'],
      summary: 'The 50 latest trades of a symbol, newest first',
      request: { params: Symbol },
      responses: {
        200: { description: 'Trades', content: { 'application/json': { schema: TradesSchema } } },
        ...problemResponses(404, 422),
      },
    }),
    async (c) => {
      const { symbol } = c.req.valid('param');
      const [, key] = marketCacheKeys(deps.config.REDIS_PREFIX, symbol);
      const body = await cached(key, async () => {
        await known(symbol);
        const trades = await lastTrades(db, symbol, 50);
        return {
          success: true as const,
          symbol,
          trades: trades.map((t) => ({
            id: t.id,
            price: toJsonNumber(t.price, CASH_SCALE),
            quantity: exactNumber(t.quantity),
            executed_at: t.executedAt.toISOString(),
          })),
        };
      });
      return c.json(body, 200);
    },
  );

  return app;
}
