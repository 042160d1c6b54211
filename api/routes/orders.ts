/**
 * Orders: placement through the TradingSaga (update-with-start, the response is the saga's ACK),
 * replace and cancel as workflow updates, reads from Postgres scoped to the caller's account.
 */
import { randomUUID } from 'node:crypto';
import { createRoute, z } from '@hono/zod-openapi';
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { exactNumber, parseDecimal, toJsonNumber, CASH_SCALE } from '../../lib/money.js';
import { getOrderById, getOrderByClientId, listOrders, type OrderRow } from '../../db/queries/orders.js';
import type { DbOrTx } from '../../db/client.js';
import { shardOf } from '../../matching/index.js';
import {
  TRADING_TASK_QUEUE,
  ackOf,
  cancelOrderUpdate,
  matchingTaskQueue,
  orderFingerprint,
  orderWorkflowId,
  placeOrderUpdate,
  replaceOrderUpdate,
  withPrefix,
  type OrderAck,
  type OrderRequest,
} from '../../temporal/contracts.js';
import { readBusinessFailure } from '../../temporal/failures.js';
import {
  DEFAULT_SELF_TRADE_PREVENTION,
  ORDER_STATUSES,
  ORDER_TYPES,
  RESTING_TIME_IN_FORCES,
  SELF_TRADE_PREVENTIONS,
  SIDES,
  TIME_IN_FORCES,
  type OrderStatus,
} from '../../temporal/orders.js';
import { tradingSagaStart } from '../../temporal/saga-start.js';
import type { TradingSagaWorkflow } from '../../temporal/trading-saga.js';
import { requireAuth } from '../auth/middleware.js';
import { boundedDecimal, createRouter, problemResponses } from '../openapi.js';
import { failureProblem } from '../failures.js';
import { MAX_ORDER_QUANTITY, MAX_PRICE_CENTS, notionalError } from '../../temporal/order-bounds.js';
import { ApiError } from '../problem.js';
import type { Admission } from '../admission.js';
import type { ApiDeps } from '../types.js';

const Quantity = boundedDecimal({
  scale: 0,
  max: MAX_ORDER_QUANTITY,
  example: '10',
  description: 'Whole shares',
});
const Price = boundedDecimal({
  scale: CASH_SCALE,
  max: MAX_PRICE_CENTS,
  example: '185.00',
  description: 'USD per share',
});

/** quantity x price within MAX_NOTIONAL_CENTS, when both parse (their own faults are reported elsewhere). */
function checkNotional(order: { quantity?: unknown; price?: unknown }, ctx: z.RefinementCtx): void {
  const qty = parseDecimal(order.quantity, 0);
  const price = parseDecimal(order.price, CASH_SCALE);
  const error = qty.ok && price.ok ? notionalError(qty.value, price.value) : undefined;
  if (error) ctx.addIssue({ code: 'custom', path: ['price'], message: error });
}

const PlaceOrderBody = z
  .object({
    order: z
      .object({
        symbol: z
          .string()
          .trim()
          .toUpperCase()
          .pipe(z.string().regex(/^[A-Z][A-Z0-9.]{0,9}$/, 'must be a ticker symbol')),
        order_type: z.enum(ORDER_TYPES),
        direction: z.enum(SIDES),
        quantity: Quantity,
        price: Price.optional().nullable(),
        time_in_force: z.enum(TIME_IN_FORCES).optional(),
        self_trade_prevention: z.enum(SELF_TRADE_PREVENTIONS).optional().openapi({
          description:
            "What happens when this order would trade with a resting order of the same account: cancel_newest (default) cancels this order's remainder, cancel_oldest cancels the resting order and keeps matching, cancel_both cancels both.",
        }),
        client_order_id: z
          .string()
          .regex(/^[A-Za-z0-9._:-]{1,64}$/, 'must be 1-64 letters, digits or ._:-')
          .optional()
          .openapi({
            description:
              'Your id for the order, unique per account: the same id with the same order answers the first order again (200); with a different order (any other field) 422 client_order_id_conflict naming the first order.',
          }),
      })
      .strict()
      .superRefine(checkNotional),
  })
  .strict()
  .openapi('PlaceOrder');

const ReplaceBody = z
  .object({
    order: z
      .object({
        client_version: z.number().int().min(0),
        quantity: Quantity.optional(),
        price: Price.optional(),
        time_in_force: z.enum(RESTING_TIME_IN_FORCES).optional(),
      })
      .strict(),
  })
  .strict()
  .openapi('ReplaceOrder');

const CancelBody = z
  .object({ client_version: z.number().int().min(0).optional() })
  .strict()
  .openapi('CancelOrder');

export const OrderSchema = z
  .object({
    success: z.literal(true),
    id: z.string(),
    order_id: z.string(),
    client_order_id: z.string(),
    account_id: z.string(),
    symbol: z.string(),
    order_type: z.enum(ORDER_TYPES),
    direction: z.enum(SIDES),
    quantity: z.number(),
    price: z.number().nullable(),
    time_in_force: z.string(),
    self_trade_prevention: z.enum(SELF_TRADE_PREVENTIONS),
    status: z.string(),
    filled_quantity: z.number(),
    average_price: z.number().nullable(),
    reserved_amount: z.number(),
    reserved_asset: z.string(),
    lock_version: z.number(),
    reject_reason: z.string().nullable(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi('Order');

export const IdParam = z.object({ id: z.uuid({ message: 'must be an order id (uuid)' }) });

const security = [{ bearer: [] }];

/** The next session close (HH:MM[:SS] UTC) after `now`: when DAY orders expire. */
export function nextSessionClose(now: Date, hhmm: string): Date {
  const [h = 0, m = 0, sec = 0] = hhmm.split(':').map(Number);
  const close = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate(), h, m, sec));
  if (close <= now) close.setUTCDate(close.getUTCDate() + 1);
  return close;
}

function parseOrderRequest(body: z.infer<typeof PlaceOrderBody>['order'], accountId: string): OrderRequest {
  const errors: string[] = [];
  const qty = parseDecimal(body.quantity, 0);
  if (!qty.ok) errors.push(`order.quantity: ${qty.error.replace('decimals', 'decimals (whole shares)')}`);
  else if (qty.value <= 0n) errors.push('order.quantity: must be positive');
  let price: bigint | undefined;
  if (body.order_type === 'limit') {
    if (body.price === undefined || body.price === null)
      errors.push('order.price: is required for limit orders');
    else {
      const p = parseDecimal(body.price, CASH_SCALE);
      if (!p.ok) errors.push(`order.price: ${p.error}`);
      else if (p.value <= 0n) errors.push('order.price: must be positive');
      else price = p.value;
    }
  } else if (body.price !== undefined && body.price !== null) {
    errors.push('order.price: must be omitted for market orders');
  }
  if (errors.length || !qty.ok) throw new ApiError('validation_failed', 'Validation failed', errors);
  return {
    orderId: randomUUID(),
    accountId,
    clientOrderId: body.client_order_id ?? randomUUID(),
    symbol: body.symbol,
    side: body.direction,
    orderType: body.order_type,
    timeInForce: body.time_in_force ?? (body.order_type === 'market' ? 'IOC' : 'DAY'),
    quantity: qty.value.toString(),
    price: price?.toString(),
    selfTradePrevention: body.self_trade_prevention ?? DEFAULT_SELF_TRADE_PREVENTION,
  };
}

export function orderJson(o: OrderRow) {
  const money = (v: bigint) => toJsonNumber(v, CASH_SCALE);
  return {
    success: true as const,
    id: o.id,
    order_id: o.id,
    client_order_id: o.clientOrderId,
    account_id: o.accountId,
    symbol: o.symbol,
    order_type: o.orderType,
    direction: o.side,
    quantity: exactNumber(o.quantity),
    price: o.price === null ? null : money(o.price),
    time_in_force: o.timeInForce,
    self_trade_prevention: o.selfTradePrevention,
    status: o.status,
    filled_quantity: exactNumber(o.filledQuantity),
    average_price: o.filledQuantity > 0n ? money(o.filledNotional / o.filledQuantity) : null,
    reserved_amount: o.side === 'buy' ? money(o.reservedAmount) : exactNumber(o.reservedAmount),
    reserved_asset: o.side === 'buy' ? 'USD' : o.symbol,
    lock_version: o.lockVersion,
    reject_reason: o.rejectReason,
    created_at: o.createdAt.toISOString(),
    updated_at: o.updatedAt.toISOString(),
  };
}

/**
 * A placement that reuses a client_order_id must be the same order as the first one (compared with the
 * first request's fingerprint): else 422 client_order_id_conflict naming the first order.
 */
function sameOrder(first: OrderRow, again: OrderRequest): void {
  if (first.requestFingerprint === null || first.requestFingerprint === orderFingerprint(again)) return;
  throw new ApiError(
    'client_order_id_conflict',
    `client_order_id ${first.clientOrderId} is order ${first.id}, placed with a different order body`,
    undefined,
    undefined,
    { order_id: first.id, client_order_id: first.clientOrderId },
  );
}

/** A failed replace or cancel as a problem; undefined for what is not a refusal (a 5xx). */
function updateFailure(err: unknown): ApiError | undefined {
  if (err instanceof WorkflowNotFoundError) return new ApiError('order_closed', 'Order is already closed');
  // A failed update: our failure types through the table, any other type (the server's
  // AcceptedUpdateCompletedWorkflow, say) as a typeless refusal.
  if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure)
    return failureProblem(readBusinessFailure(err) ?? { message: err.cause.message });
  return undefined;
}

async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>(
        (_, reject) =>
          (t = setTimeout(
            () =>
              reject(new ApiError('timeout', 'The order saga did not answer in time; query the order later')),
            ms,
          )),
      ),
    ]);
  } finally {
    clearTimeout(t);
  }
}

/** The caller's order: 404 when unknown, 403 when it belongs to another account. */
export async function ownedOrder(db: DbOrTx, id: string, accountId: string): Promise<OrderRow> {
  const order = await getOrderById(db, id);
  if (!order) throw new ApiError('not_found', 'Order not found');
  if (order.accountId !== accountId) throw new ApiError('forbidden', 'This order belongs to another account');
  return order;
}

export function orderRoutes(deps: ApiDeps, admission: Admission) {
  const { config, temporal, metrics } = deps;
  const db = deps.database.db;
  const app = createRouter();
  app.use('/api/v1/orders', requireAuth(deps));
  app.use('/api/v1/orders/*', requireAuth(deps));

  const loadOwned = (id: string, accountId: string) => ownedOrder(db, id, accountId);

  const ackResponse = async (ack: OrderAck, fresh: boolean) => {
    const row = await getOrderById(db, ack.orderId);
    const extra = {
      order_id: ack.orderId,
      client_order_id: ack.clientOrderId,
      order_status: ack.status,
      lock_version: ack.lockVersion,
    };
    if (ack.status === 'rejected')
      throw failureProblem({ type: ack.rejectCode, message: ack.rejectReason }, extra);
    return {
      body: row ? orderJson(row) : { success: true as const, ...extra },
      status: fresh ? (201 as const) : (200 as const),
    };
  };

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/v1/orders',
      tags: ['orders'],
      summary: 'Place an order (answers with the saga ACK)',
      security,
      request: { body: { content: { 'application/json': { schema: PlaceOrderBody } }, required: true } },
      responses: {
        201: {
          description: 'Accepted by the matching engine',
          content: { 'application/json': { schema: OrderSchema } },
        },
        200: {
          description: 'Same client_order_id and order again: the existing order',
          content: { 'application/json': { schema: OrderSchema } },
        },
        ...problemResponses(400, 401, 422, 429, 503, 504),
      },
    }),
    async (c) => {
      const principal = c.get('principal');
      const order = parseOrderRequest(c.req.valid('json').order, principal.accountId);
      const started = performance.now();

      // A client order id seen before: answer with that order (nothing reserved twice).
      const body = c.req.valid('json').order;
      // Only a client-chosen id can have been seen before (a generated one is new by construction).
      const existing = body.client_order_id
        ? await getOrderByClientId(db, principal.accountId, order.clientOrderId)
        : undefined;
      if (existing && existing.status !== 'pending') {
        sameOrder(existing, order);
        metrics.ordersPlaced.inc({ result: 'replayed' });
        return c.json(orderJson(existing), 200);
      }
      admission.enter();
      const workflowId = orderWorkflowId(principal.accountId, order.clientOrderId);
      try {
        const startOp = tradingSagaStart(
          workflowId,
          withPrefix(config.TASK_QUEUE_PREFIX, TRADING_TASK_QUEUE),
          {
            order,
            matchingTaskQueue: withPrefix(
              config.TASK_QUEUE_PREFIX,
              matchingTaskQueue(shardOf(order.symbol, config.MATCHING_SHARDS)),
            ),
            expiresAt:
              order.timeInForce === 'DAY'
                ? nextSessionClose(deps.now(), config.SESSION_CLOSE_UTC).toISOString()
                : undefined,
          },
        );
        let ack: OrderAck;
        try {
          ack = await withTimeout(
            temporal.workflow.executeUpdateWithStart(placeOrderUpdate, { startWorkflowOperation: startOp }),
            15_000,
          );
        } catch (err) {
          if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
          // The saga for this client order id already finished: answer from its result.
          const state = await temporal.workflow.getHandle<TradingSagaWorkflow>(workflowId).result();
          ack = ackOf(state, order.clientOrderId);
        }
        const fresh = ack.orderId === order.orderId;
        if (!fresh) {
          const first = await getOrderById(db, ack.orderId);
          if (first) sameOrder(first, order);
        }
        metrics.orderAck.observe({ outcome: ack.status }, (performance.now() - started) / 1000);
        metrics.ordersPlaced.inc({ result: fresh ? ack.status : 'replayed' });
        const { body, status } = await ackResponse(ack, fresh);
        return c.json(body as z.infer<typeof OrderSchema>, status);
      } finally {
        admission.leave();
      }
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/orders',
      tags: ['orders'],
      summary: "The caller's orders, newest first",
      security,
      request: {
        query: z.object({
          status: z
            .string()
            .regex(/^[a-z_]+(,[a-z_]+)*$/)
            .optional()
            .openapi({ description: 'Comma list, e.g. working,partially_filled' }),
          symbol: z.string().max(10).optional(),
          limit: z.coerce.number().int().min(1).max(100).default(20),
          cursor: z.string().max(200).optional(),
        }),
      },
      responses: {
        200: {
          description: 'A page of orders',
          content: {
            'application/json': {
              schema: z.object({
                success: z.literal(true),
                orders: z.array(OrderSchema),
                next_cursor: z.string().nullable(),
              }),
            },
          },
        },
        ...problemResponses(401, 422),
      },
    }),
    async (c) => {
      const principal = c.get('principal');
      const q = c.req.valid('query');
      const statuses = q.status?.split(',') as OrderStatus[] | undefined;
      if (statuses?.some((s) => !ORDER_STATUSES.includes(s)))
        throw new ApiError('validation_failed', 'Validation failed', [
          `status: must be among ${ORDER_STATUSES.join(', ')}`,
        ]);
      let before: { createdAt: Date; id: string } | undefined;
      if (q.cursor) {
        const [ts, id] = Buffer.from(q.cursor, 'base64url').toString().split('|');
        const createdAt = new Date(ts ?? '');
        if (!id || Number.isNaN(createdAt.getTime()) || !/^[0-9a-f-]{36}$/.test(id))
          throw new ApiError('validation_failed', 'Validation failed', ['cursor: is invalid']);
        before = { createdAt, id };
      }
      const rows = await listOrders(db, {
        accountId: principal.accountId,
        status: statuses,
        symbol: q.symbol?.toUpperCase(),
        limit: q.limit,
        before,
      });
      const last = rows.length === q.limit ? rows[rows.length - 1] : undefined;
      const next = last
        ? Buffer.from(`${last.createdAt.toISOString()}|${last.id}`).toString('base64url')
        : null;
      return c.json({ success: true as const, orders: rows.map(orderJson), next_cursor: next }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/v1/orders/{id}',
      tags: ['orders'],
      summary: 'One order',
      security,
      request: { params: IdParam },
      responses: {
        200: { description: 'The order', content: { 'application/json': { schema: OrderSchema } } },
        ...problemResponses(401, 403, 404),
      },
    }),
    async (c) =>
      c.json(orderJson(await loadOwned(c.req.valid('param').id, c.get('principal').accountId)), 200),
  );

  const modify = async (
    orderId: string,
    accountId: string,
    run: (workflowId: string) => Promise<OrderAck>,
  ) => {
    const order = await loadOwned(orderId, accountId);
    try {
      await run(order.workflowId);
    } catch (err) {
      throw updateFailure(err) ?? err;
    }
    return orderJson((await getOrderById(db, orderId))!);
  };

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/v1/orders/{id}/replace',
      tags: ['orders'],
      summary: 'Replace price, quantity or time in force (optimistic locking on client_version)',
      security,
      request: {
        params: IdParam,
        body: { content: { 'application/json': { schema: ReplaceBody } }, required: true },
      },
      responses: {
        200: { description: 'Replaced', content: { 'application/json': { schema: OrderSchema } } },
        ...problemResponses(400, 401, 403, 404, 409, 422),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const body = c.req.valid('json').order;
      const errors: string[] = [];
      const qty = body.quantity === undefined ? undefined : parseDecimal(body.quantity, 0);
      const price = body.price === undefined ? undefined : parseDecimal(body.price, CASH_SCALE);
      if (qty && !qty.ok) errors.push(`order.quantity: ${qty.error}`);
      if (price && !price.ok) errors.push(`order.price: ${price.error}`);
      if (qty?.ok && qty.value <= 0n) errors.push('order.quantity: must be positive');
      if (price?.ok && price.value <= 0n) errors.push('order.price: must be positive');
      if (!qty && !price && !body.time_in_force)
        errors.push('order: nothing to replace (quantity, price or time_in_force)');
      if (errors.length) throw new ApiError('validation_failed', 'Validation failed', errors);
      const result = await modify(id, c.get('principal').accountId, (wid) =>
        temporal.workflow.getHandle(wid).executeUpdate(replaceOrderUpdate, {
          args: [
            {
              clientVersion: body.client_version,
              quantity: qty?.ok ? qty.value.toString() : undefined,
              price: price?.ok ? price.value.toString() : undefined,
              timeInForce: body.time_in_force,
            },
          ],
        }),
      );
      return c.json(result, 200);
    },
  );

  const cancelResponse = z.object({
    success: z.literal(true),
    status: z.string(),
    message: z.string(),
    order: OrderSchema,
  });
  const cancel = async (id: string, accountId: string, clientVersion?: number) => {
    const order = await modify(id, accountId, (wid) =>
      temporal.workflow.getHandle(wid).executeUpdate(cancelOrderUpdate, { args: [{ clientVersion }] }),
    );
    return { success: true as const, status: order.status, message: 'Order cancelled', order };
  };

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/v1/orders/{id}/cancel',
      tags: ['orders'],
      summary: 'Cancel (optimistic locking on client_version)',
      security,
      request: {
        params: IdParam,
        body: { content: { 'application/json': { schema: CancelBody } }, required: false },
      },
      responses: {
        200: { description: 'Cancelled', content: { 'application/json': { schema: cancelResponse } } },
        ...problemResponses(401, 403, 404, 409),
      },
    }),
    async (c) => {
      const body = c.req.header('content-type')?.includes('json') ? c.req.valid('json') : {};
      return c.json(
        await cancel(c.req.valid('param').id, c.get('principal').accountId, body.client_version),
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/api/v1/orders/{id}',
      tags: ['orders'],
      summary: 'Cancel whatever version is current',
      security,
      request: { params: IdParam },
      responses: {
        200: { description: 'Cancelled', content: { 'application/json': { schema: cancelResponse } } },
        ...problemResponses(401, 403, 404, 409),
      },
    }),
    async (c) => c.json(await cancel(c.req.valid('param').id, c.get('principal').accountId), 200),
  );

  return app;
}
