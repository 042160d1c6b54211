/**
 * Executions over REST: the caller's fills, one per order per trade, newest first with a keyset cursor,
 * and one order's fills. Only the caller's own orders are ever read (the account comes from the token).
 */
import { z } from '@hono/zod-openapi';
import { listExecutions, type ExecutionKey, type ExecutionRow } from '../../db/queries/executions.js';
import { CASH_SCALE, exactNumber, toJsonNumber } from '../../lib/money.js';
import { SIDES } from '../../temporal/orders.js';
import { requireAuth } from '../auth/middleware.js';
import { apiRoute, createRouter } from '../openapi.js';
import { ApiError } from '../problem.js';
import { queryDateTime, UUID } from '../input-guard.js';
import type { ApiDeps } from '../types.js';
import { IdParam, ORDER_EXAMPLE, ownedOrder } from './orders.js';

const ExecutionSchema = z
  .object({
    execution_id: z.string().openapi({ description: 'Stable id of this order’s part in the trade' }),
    trade_id: z.string(),
    order_id: z.string(),
    symbol: z.string(),
    direction: z.enum(SIDES),
    quantity: z.number().int(),
    price: z.number(),
    liquidity: z
      .enum(['maker', 'taker'])
      .openapi({ description: 'maker: the order rested in the book and set the price' }),
    fee: z
      .string()
      .openapi({ example: '0.00', description: 'USD, exact decimal; 0.00 while BrokerX charges no fees' }),
    executed_at: z.string(),
  })
  .openapi('Execution');

const ExecutionPage = z
  .object({
    success: z.literal(true),
    executions: z.array(ExecutionSchema),
    next_cursor: z.string().nullable(),
  })
  .openapi('ExecutionPage');
const PAGE_EXAMPLE = {
  success: true,
  executions: [
    {
      execution_id: '3f9a7c2e-1b4d-4e8f-a6c5-7d2e9b0f1a34',
      trade_id: 'c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f',
      order_id: ORDER_EXAMPLE.order_id,
      symbol: 'AAPL',
      direction: 'buy',
      quantity: 10,
      price: 185,
      liquidity: 'maker',
      fee: '0.00',
      executed_at: '2026-03-02T14:31:05.123Z',
    },
  ],
  next_cursor: null,
} as const satisfies z.infer<typeof ExecutionPage>;

const PageQuery = z.object({
  from: queryDateTime.optional().openapi({ description: 'Executed at or after (ISO 8601)' }),
  to: queryDateTime.optional().openapi({ description: 'Executed before (ISO 8601)' }),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  cursor: z.string().max(200).optional().openapi({ description: 'next_cursor of the previous page' }),
});
const ListQuery = PageQuery.extend({
  symbol: z.string().max(10).optional(),
  order_id: z.uuid({ message: 'must be an order id (uuid)' }).optional(),
});

function encodeCursor(k: ExecutionKey): string {
  return Buffer.from(`${k.executedAtMicros}|${k.tradeId}|${k.orderId}`).toString('base64url');
}

function decodeCursor(cursor: string): ExecutionKey {
  const [micros, tradeId, orderId, rest] = Buffer.from(cursor, 'base64url').toString().split('|');
  if (
    rest !== undefined ||
    !micros ||
    !/^\d{1,17}$/.test(micros) ||
    !UUID.test(tradeId ?? '') ||
    !UUID.test(orderId ?? '')
  )
    throw new ApiError('validation_failed', 'Validation failed', ['cursor: is invalid']);
  return { executedAtMicros: BigInt(micros), tradeId: tradeId!, orderId: orderId! };
}

function period(q: { from?: string; to?: string }): { from?: Date; to?: Date } {
  const from = q.from === undefined ? undefined : new Date(q.from);
  const to = q.to === undefined ? undefined : new Date(q.to);
  if (from && to && from >= to)
    throw new ApiError('validation_failed', 'Validation failed', ['from: must be before to']);
  return { from, to };
}

export function executionJson(e: ExecutionRow) {
  return {
    execution_id: e.executionId,
    trade_id: e.tradeId,
    order_id: e.orderId,
    symbol: e.symbol,
    direction: e.side,
    quantity: exactNumber(e.quantity),
    price: toJsonNumber(e.price, CASH_SCALE),
    liquidity: e.liquidity,
    fee: '0.00',
    executed_at: e.executedAt.toISOString(),
  };
}

function page(rows: ExecutionRow[], limit: number) {
  const last = rows.length === limit ? rows[rows.length - 1] : undefined;
  return {
    success: true as const,
    executions: rows.map(executionJson),
    next_cursor: last ? encodeCursor(last) : null,
  };
}

export function executionRoutes(deps: ApiDeps) {
  const db = deps.database.db;
  const app = createRouter();
  const auth = requireAuth(deps);
  app.use('/api/v1/executions', auth);
  app.use('/api/v1/orders/:id/executions', auth);

  app.openapi(
    apiRoute({
      method: 'get',
      path: '/api/v1/executions',
      operationId: 'listExecutions',
      tag: 'orders',
      auth: 'bearer',
      summary: "The caller's executions (one per order per trade), newest first",
      request: { query: ListQuery },
      responses: {
        200: {
          description: 'A page of executions',
          content: { 'application/json': { schema: ExecutionPage, example: PAGE_EXAMPLE } },
        },
      },
      errors: [],
    }),
    async (c) => {
      const q = c.req.valid('query');
      const rows = await listExecutions(db, {
        accountId: c.get('principal').accountId,
        symbol: q.symbol?.toUpperCase(),
        orderId: q.order_id,
        ...period(q),
        limit: q.limit,
        after: q.cursor ? decodeCursor(q.cursor) : undefined,
      });
      return c.json(page(rows, q.limit), 200);
    },
  );

  app.openapi(
    apiRoute({
      method: 'get',
      path: '/api/v1/orders/{id}/executions',
      operationId: 'listOrderExecutions',
      tag: 'orders',
      auth: 'bearer',
      summary: "One order's executions, newest first",
      request: { params: IdParam, query: PageQuery },
      responses: {
        200: {
          description: 'A page of executions',
          content: { 'application/json': { schema: ExecutionPage, example: PAGE_EXAMPLE } },
        },
      },
      errors: [403, 404],
    }),
    async (c) => {
      const q = c.req.valid('query');
      const accountId = c.get('principal').accountId;
      // The whole input is checked before the order is read.
      const filter = {
        accountId,
        ...period(q),
        limit: q.limit,
        after: q.cursor ? decodeCursor(q.cursor) : undefined,
      };
      const order = await ownedOrder(db, c.req.valid('param').id, accountId);
      const rows = await listExecutions(db, { ...filter, orderId: order.id });
      return c.json(page(rows, q.limit), 200);
    },
  );

  return app;
}
