/**
 * GET /api/v1/orders/{id}/timeline: the customer-visible life of one order, oldest first, as its saga's
 * steps and the matching shard recorded it (db/queries/timeline.ts). Owner only, like the order itself.
 */
import { z } from '@hono/zod-openapi';
import { orderTimeline } from '../../db/queries/timeline.js';
import { ORDER_EVENT_TYPES } from '../../temporal/orders.js';
import { requireAuth } from '../auth/middleware.js';
import { apiRoute, createRouter } from '../openapi.js';
import type { ApiDeps } from '../types.js';
import { IdParam, ownedOrder } from './orders.js';

const TimelineEvent = z
  .object({
    at: z.string().openapi({ description: 'ISO time' }),
    type: z.enum(ORDER_EVENT_TYPES),
  })
  .catchall(z.union([z.string(), z.number(), z.null()]))
  .openapi('OrderTimelineEvent', {
    description:
      'One step of the order. By type: received (the order as placed: client_order_id, symbol, direction, order_type, time_in_force, quantity, price, and stop_price for stop and stop-limit orders), funds_reserved (asset, amount), triggered (stop_price), fill (trade_id, quantity, price, filled_quantity, status), replaced (quantity, price, stop_price for stop and stop-limit orders, lock_version), cancelled and expired (filled_quantity), rejected and compensated (reason). Quantities, prices and amounts are decimal strings ("10", "185.00").',
  });

const Timeline = z
  .object({ success: z.literal(true), order_id: z.string(), events: z.array(TimelineEvent) })
  .openapi('OrderTimeline');

export function timelineRoutes(deps: ApiDeps) {
  const db = deps.database.db;
  const app = createRouter();
  app.use('/api/v1/orders/*', requireAuth(deps));
  app.openapi(
    apiRoute({
      method: 'get',
      path: '/api/v1/orders/{id}/timeline',
      operationId: 'getOrderTimeline',
      tag: 'orders',
      auth: 'bearer',
      errors: [403, 404],
      summary: 'What happened to the order, oldest first',
      request: { params: IdParam },
      responses: {
        200: {
          description: "The order's timeline",
          content: {
            'application/json': {
              schema: Timeline,
              example: {
                success: true,
                order_id: '0b6f6d1e-6c1d-4a35-9f0e-2f6a1c9d7e42',
                events: [
                  {
                    at: '2026-03-02T14:30:00.000Z',
                    type: 'received',
                    client_order_id: 'my-order-1',
                    symbol: 'AAPL',
                    direction: 'buy',
                    order_type: 'limit',
                    time_in_force: 'DAY',
                    quantity: '10',
                    price: '185.00',
                  },
                  { at: '2026-03-02T14:30:00.000Z', type: 'validated' },
                  { at: '2026-03-02T14:30:00.000Z', type: 'funds_reserved', asset: 'USD', amount: '1850.00' },
                  { at: '2026-03-02T14:30:00.030Z', type: 'submitted' },
                  { at: '2026-03-02T14:30:00.030Z', type: 'accepted' },
                  {
                    at: '2026-03-02T14:31:12.000Z',
                    type: 'fill',
                    trade_id: '7e1f0c2a-5b3d-4c8e-9f1a-2b3c4d5e6f70',
                    quantity: '10',
                    price: '185.00',
                    filled_quantity: '10',
                    status: 'filled',
                  },
                ],
              },
            },
          },
        },
      },
    }),
    async (c) => {
      const order = await ownedOrder(db, c.req.valid('param').id, c.get('principal').accountId);
      const events = (await orderTimeline(db, order.id)).map((e) => ({
        at: e.at.toISOString(),
        type: e.type as (typeof ORDER_EVENT_TYPES)[number],
        ...(e.details as Record<string, string | number | null>),
      }));
      return c.json({ success: true as const, order_id: order.id, events }, 200);
    },
  );
  return app;
}
