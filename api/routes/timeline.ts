/**
 * GET /api/v1/orders/{id}/timeline: the customer-visible life of one order, oldest first, as its saga's
 * steps and the matching shard recorded it (db/queries/timeline.ts). Owner only, like the order itself.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { orderTimeline } from '../../db/queries/timeline.js';
import { ORDER_EVENT_TYPES } from '../../temporal/orders.js';
import { requireAuth } from '../auth/middleware.js';
import { createRouter, problemResponses } from '../openapi.js';
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
      'One step of the order. By type: received (the order as placed), funds_reserved (asset, amount), fill (trade_id, quantity, price, filled_quantity, status), replaced (quantity, price, lock_version), cancelled and expired (filled_quantity), rejected and compensated (reason).',
  });

const Timeline = z
  .object({ success: z.literal(true), order_id: z.string(), events: z.array(TimelineEvent) })
  .openapi('OrderTimeline');

export function timelineRoutes(deps: ApiDeps) {
  const db = deps.database.db;
  const app = createRouter();
  app.use('/api/v1/orders/*', requireAuth(deps));
  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/orders/{id}/timeline',
      tags: ['orders'],
      summary: 'What happened to the order, oldest first',
      security: [{ bearer: [] }],
      request: { params: IdParam },
      responses: {
        200: { description: "The order's timeline", content: { 'application/json': { schema: Timeline } } },
        ...problemResponses(401, 403, 404, 422),
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
