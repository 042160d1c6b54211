/**
 * Market data over REST, beside the live feed: quote (L1) and depth (L2) per symbol, and last trades.
 * Read from Postgres (the books' source of truth), cached in Redis for a second; the outbox relay
 * deletes a symbol's cache keys whenever its book changes, so a read after a change is fresh.
 * Public: quotes carry no account data.
 */
import { z } from '@hono/zod-openapi';
import { getInstrument } from '../../db/queries/orders.js';
import { bookDepth, lastTrades, type Level } from '../../db/queries/market.js';
import { marketCacheKeys } from '../../lib/redis-keys.js';
import { CASH_SCALE, exactNumber, formatDecimal, toJsonNumber } from '../../lib/money.js';
import { apiRoute, createRouter } from '../openapi.js';
import { ApiError } from '../problem.js';
import type { ApiDeps } from '../types.js';

const CACHE_TTL_MS = 1000;

const Symbol = z.object({
  symbol: z
    .string()
    .trim()
    .toUpperCase()
    .pipe(z.string().regex(/^[A-Z][A-Z0-9.]{0,9}$/, 'must be a ticker symbol'))
    .openapi({ example: 'AAPL' }),
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

const bidExample = { price: 184.99, price_exact: '184.99', quantity: 300, orders: 2 };
const askExample = { price: 185.01, price_exact: '185.01', quantity: 120, orders: 1 };
const MARKET_EXAMPLE = {
  success: true,
  symbol: 'AAPL',
  quote: { bid: bidExample, ask: askExample, spread: 0.02 },
  depth: {
    bids: [bidExample, { price: 184.9, price_exact: '184.90', quantity: 50, orders: 1 }],
    asks: [askExample],
  },
  reference_price: 185,
  as_of: '2026-03-02T14:30:00.000Z',
} as const satisfies z.infer<typeof MarketSchema>;
const TRADES_EXAMPLE = {
  success: true,
  symbol: 'AAPL',
  trades: [
    {
      id: 'c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f',
      price: 185,
      quantity: 10,
      executed_at: '2026-03-02T14:31:05.123Z',
    },
  ],
} as const satisfies z.infer<typeof TradesSchema>;

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

  /**
   * Read-through cache: a JSON body per key, computed on a miss. Fails open (ADR 0017): with Redis not
   * connected it is not asked, a read that fails or times out is a miss, and the answer never waits for
   * the write.
   */
  async function cached<T>(key: string, compute: () => Promise<T>): Promise<T> {
    if (redis.status !== 'ready') return compute();
    const hit = await redis.get(key).catch(() => null);
    if (hit) return JSON.parse(hit) as T;
    const value = await compute();
    redis.set(key, JSON.stringify(value), 'PX', CACHE_TTL_MS).catch(() => undefined);
    return value;
  }

  async function known(symbol: string) {
    const instrument = await getInstrument(db, symbol);
    if (!instrument) throw new ApiError('not_found', `Unknown symbol ${symbol}`);
    return instrument;
  }

  app.openapi(
    apiRoute({
      method: 'get',
      path: '/api/v1/market/{symbol}',
      operationId: 'getMarket',
      tag: 'market data',
      auth: 'public',
      summary: 'Quote (L1) and depth (L2, 10 levels) of a symbol',
      request: { params: Symbol },
      responses: {
        200: {
          description: 'Quote and depth',
          content: { 'application/json': { schema: MarketSchema, example: MARKET_EXAMPLE } },
        },
      },
      errors: [404],
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
    apiRoute({
      method: 'get',
      path: '/api/v1/market/{symbol}/trades',
      operationId: 'listTrades',
      tag: 'market data',
      auth: 'public',
      summary: 'The 50 latest trades of a symbol, newest first',
      request: { params: Symbol },
      responses: {
        200: {
          description: 'Trades',
          content: { 'application/json': { schema: TradesSchema, example: TRADES_EXAMPLE } },
        },
      },
      errors: [404],
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
