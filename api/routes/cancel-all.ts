/**
 * Cancel-all: DELETE /api/v1/orders[?symbol=] cancels every open order of the caller's account, each
 * through its saga's cancel update (temporal/saga-cancel.ts, shared with the operators' controls), within
 * ORDER_ACK_TIMEOUT_MS as a single cancel. It takes one of the account's modification slots, as one
 * cancel does (api/admission.ts): over MAX_INFLIGHT_ORDERS_PER_ACCOUNT replaces and cancels in flight, 429.
 */
import { z } from '@hono/zod-openapi';
import type { Admission } from '../admission.js';
import { getOrderById, listOpenOrders, orderIsOpen } from '../../db/queries/orders.js';
import { cancelThroughSagas } from '../../temporal/saga-cancel.js';
import { requireAuth } from '../auth/middleware.js';
import { cancelFailureJson } from '../failures.js';
import { apiRoute, createRouter } from '../openapi.js';
import type { ApiDeps } from '../types.js';
import { ORDER_EXAMPLE, OrderSchema, orderJson, withTimeout } from './orders.js';

const CancelAllResult = z
  .object({
    success: z.literal(true),
    cancelled: z
      .array(OrderSchema)
      .openapi({ description: 'The cancelled orders, as GET /api/v1/orders/{id}' }),
    failed: z
      .array(
        z.object({
          order_id: z.string(),
          code: z.string().openapi({ description: 'The problem code a single cancel would have answered' }),
          message: z.string(),
        }),
      )
      .openapi({ description: 'Orders that could not be cancelled (filled meanwhile, say)' }),
  })
  .openapi('CancelAllResult');

export function cancelAllRoutes(deps: ApiDeps, admission: Admission) {
  const db = deps.database.db;
  const app = createRouter();
  app.use('/api/v1/orders', requireAuth(deps));

  app.openapi(
    apiRoute({
      method: 'delete',
      path: '/api/v1/orders',
      operationId: 'cancelAllOrders',
      tag: 'orders',
      auth: 'bearer',
      errors: [429, 504],
      summary: 'Cancel every open order of the account (optionally of one symbol)',
      description:
        'Every open order of the account (working, partially filled, and stop orders waiting for their trigger), each cancelled through its own saga as DELETE /api/v1/orders/{id} would (its reservation released, a `canceled` execution report on the feed). Orders still being placed are not open yet and are left alone. An order that closed meanwhile (filled, say) is in `failed` with the code a single cancel would answer. Nothing open: 200 with empty lists. Sagas that do not all answer in time (a matching outage): 504 `timeout`, the cancels go on; list the orders later. It counts as one cancel against the account limit of replaces and cancels in flight (MAX_INFLIGHT_ORDERS_PER_ACCOUNT): beyond it, 429 with Retry-After.',
      request: {
        query: z.object({
          symbol: z
            .string()
            .trim()
            .toUpperCase()
            .pipe(z.string().regex(/^[A-Z][A-Z0-9.]{0,9}$/, 'must be a ticker symbol'))
            .optional(),
        }),
      },
      responses: {
        200: {
          description: 'What was cancelled and what could not be',
          content: {
            'application/json': {
              schema: CancelAllResult,
              example: {
                success: true,
                cancelled: [{ ...ORDER_EXAMPLE, status: 'cancelled', reserved_amount: 0, lock_version: 1 }],
                failed: [
                  {
                    order_id: '3c2b1a0f-9e8d-4c7b-8a69-5f4e3d2c1b0a',
                    code: 'order_closed',
                    message: 'Order is already closed',
                  },
                ],
              },
            },
          },
        },
      },
    }),
    async (c) => {
      const { accountId } = c.get('principal');
      const { symbol } = c.req.valid('query');
      const body = await admission.modifying(accountId, async () => {
        const open = await listOpenOrders(db, { accountId, symbol });
        const outcome = await withTimeout(
          cancelThroughSagas(
            deps.temporal.workflow,
            open.map((o) => ({ orderId: o.id, workflowId: o.workflowId })),
            (id) => orderIsOpen(db, id),
          ),
          deps.config.ORDER_ACK_TIMEOUT_MS,
        );
        const cancelled = [];
        for (const id of outcome.cancelled) cancelled.push(orderJson((await getOrderById(db, id))!));
        return { success: true as const, cancelled, failed: outcome.failed.map(cancelFailureJson) };
      });
      return c.json(body, 200);
    },
  );
  return app;
}
