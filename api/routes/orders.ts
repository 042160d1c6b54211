/**
 * Orders: placement through the TradingSaga (update-with-start, the response is the saga's ACK),
 * replace and cancel as workflow updates, reads from Postgres scoped to the caller's account.
 */
import { randomUUID } from 'node:crypto';
import { z } from '@hono/zod-openapi';
import {
  isGrpcServiceError,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
} from '@temporalio/client';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import { exactNumber, parseDecimal, toJsonNumber, CASH_SCALE } from '../../lib/money.js';
import {
  getOrderById,
  getOrderByClientId,
  listOrders,
  orderIsOpen,
  orderView,
  type OrderRow,
  type OrderView,
} from '../../db/queries/orders.js';
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
  idempotentUpdateId,
  replaceOrderUpdate,
  withPrefix,
  type OrderAck,
  type OrderRequest,
  type CancelRequest,
  type ReplaceRequest,
} from '../../temporal/contracts.js';
import { completeIdempotencyKey, lockClaim, releaseIdempotencyKey } from '../../db/queries/idempotency.js';
import {
  checkIdempotencyKey,
  claimOrReplay,
  IDEMPOTENCY_KEY_PATTERN,
  IDEMPOTENCY_KEY_RULE,
  requestHash,
} from '../idempotency.js';
import type { Context } from 'hono';
import type { Session, SessionCalendar } from '../../lib/sessions.js';
import { FAILURE_MESSAGES, FailureType, readBusinessFailure } from '../../temporal/failures.js';
import {
  DEFAULT_SELF_TRADE_PREVENTION,
  isStopType,
  tradesAs,
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
import { apiCalendar, askCalendar } from '../calendar.js';
import { apiRoute, boundedDecimal, createRouter } from '../openapi.js';
import { failureProblem } from '../failures.js';
import { MAX_ORDER_QUANTITY, MAX_PRICE_CENTS, notionalError } from '../../temporal/order-bounds.js';
import { ApiError } from '../problem.js';
import { inDateRange, isJsonBody, UUID } from '../input-guard.js';
import { serviceUnavailable } from '../unavailable.js';
import type { Admission } from '../admission.js';
import type { ApiDeps, AppEnv } from '../types.js';

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
        price: Price.optional().nullable().openapi({
          description:
            'Limit price: required for limit and stop_limit orders, omitted for market and stop orders.',
        }),
        stop_price: Price.optional().nullable().openapi({
          description:
            'Trigger price, required for stop and stop_limit orders (on the tick grid): a buy stop triggers when a trade prints at or above it, a sell stop at or below; when the last trade already meets it the order triggers at once. Until then the order is pending_trigger and not in the visible book.',
        }),
        time_in_force: z.enum(TIME_IN_FORCES).optional().openapi({
          description:
            'Optional. Defaults: DAY for limit, stop and stop_limit orders, IOC for market orders. Market orders cannot be GTC; stop and stop_limit orders are DAY or GTC.',
        }),
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
        stop_price: Price.optional().openapi({
          description: 'An untriggered stop or stop_limit order: its new trigger price.',
        }),
        time_in_force: z.enum(RESTING_TIME_IN_FORCES).optional(),
      })
      .strict()
      // Both given: checked here; one of them: the shard checks it with the order's other (shard/operations.ts).
      .superRefine(checkNotional),
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
    stop_price: z
      .number()
      .nullable()
      .openapi({ description: 'Stop and stop_limit orders: the trigger price' }),
    triggered_at: z.string().nullable().openapi({
      description: 'When a stop order triggered; null while pending_trigger and for other orders',
    }),
    time_in_force: z.enum(TIME_IN_FORCES),
    self_trade_prevention: z.enum(SELF_TRADE_PREVENTIONS),
    status: z.enum(ORDER_STATUSES),
    filled_quantity: z.number(),
    average_price: z.number().nullable().openapi({
      description:
        'The mean price of the fills (their notional over filled_quantity), rounded half-up to the cent; null before the first fill',
    }),
    reserved_amount: z.number(),
    reserved_asset: z.string(),
    lock_version: z.number(),
    reject_reason: z.string().nullable(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi('Order');

/** What makes two keyed replace (or cancel) requests the same request. */
export const modifyRequestHash = (
  op: 'replace' | 'cancel',
  request: ReplaceRequest | CancelRequest,
): string => requestHash(`${op}|${JSON.stringify(request)}`);

/** Optional on replace and cancel; checked in the handler (a malformed key is a 400, as for deposits). */
const ModifyKeyHeader = z.object({
  'idempotency-key': z
    .string()
    .optional()
    .openapi({
      pattern: IDEMPOTENCY_KEY_PATTERN.source,
      description: `Optional, ${IDEMPOTENCY_KEY_RULE}; scoped to your account and this order (POST cancel and DELETE share one key space), remembered 24 hours. The same key and body answer the first response again with \`Idempotent-Replayed: true\`; the same key with another body is 422 idempotency_mismatch; while the first request runs, 409 idempotency_in_progress. A retry after a lost answer gets the first answer, not a version conflict; after a 504 (the saga goes on with the request) it gets the request's outcome, after a 503 (nothing changed) it runs the request again.`,
      example: 'replace-7f3a',
    }),
});

export const IdParam = z.object({
  id: z
    .uuid({ message: 'must be an order id (uuid)' })
    .openapi({ example: '0b6f6d1e-6c1d-4a35-9f0e-2f6a1c9d7e42' }),
});

/** A limit buy resting on the book, as the API answers it (the examples of the order operations). */
export const ORDER_EXAMPLE = {
  success: true,
  id: '0b6f6d1e-6c1d-4a35-9f0e-2f6a1c9d7e42',
  order_id: '0b6f6d1e-6c1d-4a35-9f0e-2f6a1c9d7e42',
  client_order_id: 'my-order-1',
  account_id: '5d0e7c1a-3b8f-4f7a-8f0c-9a2e6b1d4c33',
  symbol: 'AAPL',
  order_type: 'limit',
  direction: 'buy',
  quantity: 10,
  price: 185,
  stop_price: null,
  triggered_at: null,
  time_in_force: 'DAY',
  self_trade_prevention: 'cancel_newest',
  status: 'working',
  filled_quantity: 0,
  average_price: null,
  reserved_amount: 1850,
  reserved_asset: 'USD',
  lock_version: 0,
  reject_reason: null,
  created_at: '2026-03-02T14:30:00.000Z',
  updated_at: '2026-03-02T14:30:00.000Z',
} as const satisfies z.infer<typeof OrderSchema>;
/** A sell stop waiting for its trigger: its shares reserved, not in the visible book. */
const STOP_EXAMPLE = {
  ...ORDER_EXAMPLE,
  client_order_id: 'my-stop-1',
  order_type: 'stop',
  direction: 'sell',
  price: null,
  stop_price: 180,
  time_in_force: 'GTC',
  status: 'pending_trigger',
  reserved_amount: 10,
  reserved_asset: 'AAPL',
} as const satisfies z.infer<typeof OrderSchema>;
/** A buy stop-limit whose stop the last trade already met: triggered at placement, resting at its limit. */
const TRIGGERED_EXAMPLE = {
  ...ORDER_EXAMPLE,
  client_order_id: 'my-stop-limit-1',
  order_type: 'stop_limit',
  price: 190.5,
  stop_price: 190,
  triggered_at: '2026-03-02T14:30:00.000Z',
  reserved_amount: 1905,
} as const satisfies z.infer<typeof OrderSchema>;
const CANCELLED_EXAMPLE = {
  success: true,
  status: 'cancelled',
  message: 'Order cancelled',
  order: { ...ORDER_EXAMPLE, status: 'cancelled', reserved_amount: 0, lock_version: 1 },
} as const;

/**
 * The order's trading session: the one in progress, or (outside the session) the next, for which a
 * DAY or GTC limit order is accepted (it rests at once, docs/adr/0020-orders-outside-the-session.md).
 * Orders that need liquidity now (market, IOC, FOK) are refused while the market is closed. A DAY order
 * expires at the session's close (the saga's timer; the shard expires it first if its book trades after
 * the close, docs/adr/0044-day-orders-expire-in-the-shard.md).
 */
function sessionFor(order: OrderRequest, calendar: SessionCalendar, now: Date): Session {
  const session = calendar.sessionAt(now);
  const open = session.open <= now;
  const needsLiquidity =
    order.orderType === 'market' || order.timeInForce === 'IOC' || order.timeInForce === 'FOK';
  if (!open && needsLiquidity)
    throw new ApiError(
      'market_closed',
      `The market is closed until ${session.open.toISOString()}: market, IOC and FOK orders are taken during the session only`,
      undefined,
      undefined,
      { next_open: session.open.toISOString() },
    );
  return session;
}

/** A price field that the order type requires (`needed`) or forbids; its value in cents when valid. */
function priceField(
  errors: string[],
  name: 'price' | 'stop_price',
  value: string | number | null | undefined,
  needed: boolean,
  orderType: string,
): bigint | undefined {
  if (value === undefined || value === null) {
    if (needed) errors.push(`order.${name}: is required for ${orderType} orders`);
    return undefined;
  }
  if (!needed) {
    errors.push(`order.${name}: must be omitted for ${orderType} orders`);
    return undefined;
  }
  const p = parseDecimal(value, CASH_SCALE);
  if (!p.ok) errors.push(`order.${name}: ${p.error}`);
  else if (p.value <= 0n) errors.push(`order.${name}: must be positive`);
  else return p.value;
  return undefined;
}

function parseOrderRequest(body: z.infer<typeof PlaceOrderBody>['order'], accountId: string): OrderRequest {
  const errors: string[] = [];
  const qty = parseDecimal(body.quantity, 0);
  if (!qty.ok) errors.push(`order.quantity: ${qty.error.replace('decimals', 'decimals (whole shares)')}`);
  else if (qty.value <= 0n) errors.push('order.quantity: must be positive');
  const price = priceField(
    errors,
    'price',
    body.price,
    tradesAs(body.order_type) === 'limit',
    body.order_type,
  );
  const stopPrice = priceField(
    errors,
    'stop_price',
    body.stop_price,
    isStopType(body.order_type),
    body.order_type,
  );
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
    stopPrice: stopPrice?.toString(),
    selfTradePrevention: body.self_trade_prevention ?? DEFAULT_SELF_TRADE_PREVENTION,
  };
}

export function orderJson(o: OrderView) {
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
    stop_price: o.stopPrice === null ? null : money(o.stopPrice),
    triggered_at: o.triggeredAt?.toISOString() ?? null,
    time_in_force: o.timeInForce,
    self_trade_prevention: o.selfTradePrevention,
    status: o.status,
    filled_quantity: exactNumber(o.filledQuantity),
    // Rounded half-up to the cent: (notional / quantity + 1/2), floored.
    average_price:
      o.filledQuantity > 0n
        ? money((2n * o.filledNotional + o.filledQuantity) / (2n * o.filledQuantity))
        : null,
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

/**
 * Ask for an update's outcome, if it has one, once the saga has taken it (not once it answered):
 * UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ACCEPTED of Temporal's API (enums/v1/update.proto), as the
 * number the raw service call takes; the client package names the stage but does not export its encoding.
 */
const UPDATE_ACCEPTED = 2;
/** gRPC NOT_FOUND: no update with that id (or no saga). */
const GRPC_NOT_FOUND = 5;

/**
 * A failed replace or cancel as a problem; undefined for what is not a refusal (a 500). A matching step
 * that failed (no shard owner within its schedule-to-close) changed nothing: 503, retry.
 */
function updateFailure(err: unknown): ApiError | undefined {
  if (err instanceof WorkflowNotFoundError) return new ApiError('order_closed', 'Order is already closed');
  if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ActivityFailure)
    return serviceUnavailable('matching');
  // A failed update: our failure types through the table, any other type (the server's
  // AcceptedUpdateCompletedWorkflow, say) as a typeless refusal.
  if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure)
    return failureProblem(readBusinessFailure(err) ?? { message: err.cause.message });
  return undefined;
}

/** `p`, or 504 `timeout` after `ms` (what `p` does goes on: the saga's placement, replace or cancel). */
export async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
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
  const calendar = apiCalendar(deps);
  const app = createRouter();
  app.use('/api/v1/orders', requireAuth(deps));
  app.use('/api/v1/orders/*', requireAuth(deps));

  const loadOwned = (id: string, accountId: string) => ownedOrder(db, id, accountId);

  /** The order an answer reports: the row it carries, else (a kept answer, an older saga) as stored. */
  const answeredOrder = async (ack: OrderAck | undefined, orderId: string) =>
    ack?.order ? orderView(ack.order) : getOrderById(db, orderId);

  const ackResponse = async (ack: OrderAck, fresh: boolean) => {
    const extra = {
      order_id: ack.orderId,
      client_order_id: ack.clientOrderId,
      order_status: ack.status,
      lock_version: ack.lockVersion,
    };
    if (ack.status === 'rejected')
      throw failureProblem({ type: ack.rejectCode, message: ack.rejectReason }, extra);
    // A fresh order: the ACK carries the row its saga's submit committed. A replayed client_order_id
    // attached to an earlier saga: read the order as it stands now.
    const row = await answeredOrder(fresh ? ack : undefined, ack.orderId);
    return {
      body: row ? orderJson(row) : { success: true as const, ...extra },
      status: fresh ? (201 as const) : (200 as const),
    };
  };

  app.openapi(
    apiRoute({
      method: 'post',
      path: '/api/v1/orders',
      operationId: 'placeOrder',
      tag: 'orders',
      auth: 'bearer',
      summary: 'Place an order (answers with the saga ACK)',
      description: [
        "The answer is the saga's ACK: the order as the matching engine accepted it (resting, filled, or waiting for its trigger). `time_in_force` is optional: DAY for limit, stop and stop_limit orders, IOC for market orders.",
        'Stop and stop_limit orders wait as `pending_trigger`, outside the visible book, until a trade prints at or above `stop_price` (buy) or at or below it (sell), at once when the last trade already does; then they trade as a market (stop) or limit (stop_limit) order and `triggered_at` is set. What is reserved covers what the order can cost once triggered (a stop buy: its quantity at the top of the price band).',
        "Outside the trading session (GET /api/v1/clock) limit, stop and stop_limit orders are accepted for the next session and rest at once (a DAY order expires at that session's close); market, IOC and FOK orders are 422 `market_closed` with `next_open`. Past the end of the trading calendar's data, 503 `calendar_unavailable` (nothing is placed).",
        'The same `client_order_id` with the same order answers 200 with the first order; with a different order, 422 `client_order_id_conflict` with the first `order_id`. Refusals of the order itself (insufficient funds, a price off the tick or outside the band, an unknown symbol) are 422 `validation_failed`; the operator controls answer 422 `symbol_halted`, `account_frozen`, `kill_switch_engaged` or `risk_limit`.',
      ].join('\n\n'),
      request: {
        body: {
          content: {
            'application/json': {
              schema: PlaceOrderBody,
              examples: {
                limit: {
                  summary: 'A limit buy for the day',
                  value: {
                    order: {
                      symbol: 'AAPL',
                      order_type: 'limit',
                      direction: 'buy',
                      quantity: 10,
                      price: '185.00',
                      time_in_force: 'DAY',
                      client_order_id: 'my-order-1',
                    },
                  },
                },
                stop: {
                  summary: 'A protective sell stop: sells at market once a trade prints at or below 180.00',
                  value: {
                    order: {
                      symbol: 'AAPL',
                      order_type: 'stop',
                      direction: 'sell',
                      quantity: 10,
                      stop_price: '180.00',
                      time_in_force: 'GTC',
                      client_order_id: 'my-stop-1',
                    },
                  },
                },
                stop_limit: {
                  summary: 'A buy stop-limit: a limit buy at 190.50 once a trade prints at or above 190.00',
                  value: {
                    order: {
                      symbol: 'AAPL',
                      order_type: 'stop_limit',
                      direction: 'buy',
                      quantity: 10,
                      stop_price: '190.00',
                      price: '190.50',
                      client_order_id: 'my-stop-limit-1',
                    },
                  },
                },
              },
            },
          },
          required: true,
        },
      },
      responses: {
        201: {
          description: 'Accepted by the matching engine',
          content: {
            'application/json': {
              schema: OrderSchema,
              examples: {
                limit: { summary: 'A limit buy resting on the book', value: ORDER_EXAMPLE },
                stop: { summary: 'A sell stop waiting for its trigger', value: STOP_EXAMPLE },
                stop_limit: {
                  summary: 'A stop-limit triggered at placement, resting at its limit',
                  value: TRIGGERED_EXAMPLE,
                },
              },
            },
          },
        },
        200: {
          description: 'Same client_order_id and order again: the existing order',
          content: { 'application/json': { schema: OrderSchema, example: ORDER_EXAMPLE } },
        },
      },
      errors: [429, 504],
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
      const session = askCalendar(() => sessionFor(order, calendar, deps.now()));
      admission.enter(principal.accountId);
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
            expiresAt: order.timeInForce === 'DAY' ? session.close.toISOString() : undefined,
            matchingStartToCloseMs: config.MATCHING_START_TO_CLOSE_MS,
            matchingScheduleToCloseMs: config.MATCHING_SCHEDULE_TO_CLOSE_MS,
          },
        );
        let ack: OrderAck;
        try {
          ack = await withTimeout(
            temporal.workflow.executeUpdateWithStart(placeOrderUpdate, { startWorkflowOperation: startOp }),
            config.ORDER_ACK_TIMEOUT_MS,
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
        admission.leave(principal.accountId);
      }
    },
  );

  app.openapi(
    apiRoute({
      method: 'get',
      path: '/api/v1/orders',
      operationId: 'listOrders',
      tag: 'orders',
      auth: 'bearer',
      summary: "The caller's orders, newest first",
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
              example: {
                success: true,
                orders: [ORDER_EXAMPLE],
                next_cursor: 'MjAyNi0wMy0wMlQxNDozMDowMC4wMDBafDBiNmY2ZDFl',
              },
            },
          },
        },
      },
      errors: [],
    }),
    async (c) => {
      const principal = c.get('principal');
      const q = c.req.valid('query');
      const statuses = q.status?.split(',') as OrderStatus[] | undefined;
      if (statuses?.some((s) => !ORDER_STATUSES.includes(s)))
        throw new ApiError('validation_failed', 'Validation failed', [
          `status: must be among ${ORDER_STATUSES.join(', ')}`,
        ]);
      let before: { createdAtMicros: bigint; id: string } | undefined;
      if (q.cursor) {
        // created_at in microseconds since the epoch; cursors handed out before carry an ISO date-time.
        const [ts = '', id = '', rest] = Buffer.from(q.cursor, 'base64url').toString().split('|');
        const micros = /^\d{1,16}$/.test(ts);
        const ms = micros ? Number(ts) / 1000 : Date.parse(ts);
        if (rest !== undefined || !UUID.test(id) || !inDateRange(new Date(ms)))
          throw new ApiError('validation_failed', 'Validation failed', ['cursor: is invalid']);
        before = { createdAtMicros: micros ? BigInt(ts) : BigInt(ms) * 1000n, id };
      }
      const rows = await listOrders(db, {
        accountId: principal.accountId,
        status: statuses,
        symbol: q.symbol?.toUpperCase(),
        limit: q.limit,
        before,
      });
      const last = rows.length === q.limit ? rows[rows.length - 1] : undefined;
      const next = last ? Buffer.from(`${last.createdAtMicros}|${last.id}`).toString('base64url') : null;
      return c.json({ success: true as const, orders: rows.map(orderJson), next_cursor: next }, 200);
    },
  );

  app.openapi(
    apiRoute({
      method: 'get',
      path: '/api/v1/orders/{id}',
      operationId: 'getOrder',
      tag: 'orders',
      auth: 'bearer',
      summary: 'One order',
      request: { params: IdParam },
      responses: {
        200: {
          description: 'The order',
          content: { 'application/json': { schema: OrderSchema, example: ORDER_EXAMPLE } },
        },
      },
      errors: [403, 404],
    }),
    async (c) =>
      c.json(orderJson(await loadOwned(c.req.valid('param').id, c.get('principal').accountId)), 200),
  );

  /** Did the finished saga answer this keyed update before it ended (its result keeps the answers)? */
  const answeredBeforeClose = async (workflowId: string, updateId: string): Promise<boolean> => {
    try {
      const state = await temporal.workflow.getHandle<TradingSagaWorkflow>(workflowId).result();
      return state.answers?.[updateId] !== undefined;
    } catch {
      return false;
    }
  };

  /**
   * The update id a keyed replace or cancel goes under. Temporal keeps an update's outcome under its id,
   * a failure too, so the same id again would answer an update whose matching step failed (503, nothing
   * changed) with that failure for good. A key's ids run `id`, `id~1`, `id~2`, ...: the first whose
   * update did not fail that way (answered, running, or never sent), asked without waiting on it.
   */
  const liveUpdateId = async (workflowId: string, keyedId: string): Promise<string> => {
    for (let n = 0; ; n++) {
      const updateId = n === 0 ? keyedId : `${keyedId}~${n}`;
      const outcome = await temporal.workflowService
        .pollWorkflowExecutionUpdate({
          namespace: temporal.options.namespace,
          updateRef: { workflowExecution: { workflowId }, updateId },
          waitPolicy: { lifecycleStage: UPDATE_ACCEPTED },
        })
        .then(
          (r) => r.outcome,
          (err: unknown) => {
            if (isGrpcServiceError(err) && Number(err.code) === GRPC_NOT_FOUND) return undefined; // never sent
            throw err;
          },
        );
      if (!outcome?.failure?.activityFailureInfo) return updateId;
    }
  };

  /**
   * No saga to ask (none, or it ended) while the order's row is still open: its saga was lost with
   * Temporal's database or terminated, and operators re-adopt it (docs/runbooks/stuck-saga.md). 503
   * `saga_missing`, never 409 `order_closed` for an order that is not closed.
   */
  const sagaMissing = async (err: unknown, orderId: string): Promise<ApiError | undefined> => {
    if (!(err instanceof WorkflowNotFoundError) || !(await orderIsOpen(db, orderId))) return undefined;
    return failureProblem({ type: FailureType.SagaMissing, message: FAILURE_MESSAGES.SagaMissing });
  };

  /**
   * Run a replace or cancel update on the order's saga; the answer is the order as committed. A keyed
   * request (`keyedId`: its key's update id) that finds the saga already ended succeeds when the saga had
   * answered it. The saga not answering within ORDER_ACK_TIMEOUT_MS is a 504: the update goes on (a
   * matching outage), a later GET shows its outcome and a retry with the key gets it.
   */
  const modify = async (
    orderId: string,
    accountId: string,
    run: (workflowId: string, updateId: string | undefined) => Promise<OrderAck>,
    keyedId: string | undefined,
  ) => {
    const { workflowId } = await loadOwned(orderId, accountId);
    let updateId: string | undefined;
    let answer: OrderAck | undefined;
    try {
      const send = async () => {
        updateId = keyedId && (await liveUpdateId(workflowId, keyedId));
        return run(workflowId, updateId);
      };
      answer = await withTimeout(send(), config.ORDER_ACK_TIMEOUT_MS);
    } catch (err) {
      const answered =
        updateId !== undefined &&
        err instanceof WorkflowNotFoundError &&
        (await answeredBeforeClose(workflowId, updateId));
      if (!answered) throw (await sagaMissing(err, orderId)) ?? updateFailure(err) ?? err;
    }
    return orderJson((await answeredOrder(answer, orderId))!);
  };

  /**
   * An optional Idempotency-Key on replace and cancel, with the semantics of deposits, scoped to the
   * account and the order (`op`: POST cancel and DELETE are both `cancel`, one key space). The key
   * travels into Temporal as the update id (`idempotentUpdateId`): Temporal and the saga answer a
   * repeated update with its first answer, so a retry after a lost answer (even after the api crashed
   * before completing the key) gets that answer, not a version conflict.
   */
  const keyed = async <B>(
    c: Context<AppEnv>,
    orderId: string,
    op: 'replace' | 'cancel',
    request: ReplaceRequest | CancelRequest,
    run: (updateId: string | undefined) => Promise<B>,
  ): Promise<B> => {
    const header = c.req.header('idempotency-key');
    if (header === undefined) return run(undefined);
    const key = checkIdempotencyKey(header);
    const { accountId } = c.get('principal');
    await loadOwned(orderId, accountId); // an unknown or foreign order stores no key
    const hash = modifyRequestHash(op, request);
    const scoped = { accountId, key: `order:${orderId}:${key}` };
    const claim = await claimOrReplay(db, {
      ...scoped,
      scope: `order_${op}`,
      requestHash: hash,
      now: deps.now(),
      ttlSeconds: config.IDEMPOTENCY_TTL_SECONDS,
    });
    if (claim.kind === 'replay') {
      c.header('idempotent-replayed', 'true');
      return claim.body as B;
    }
    const fence = { ...scoped, claimedAt: claim.claimedAt };
    let body: B;
    try {
      body = await run(idempotentUpdateId(op, key, hash));
    } catch (err) {
      // Refused or failed (nothing changed) or unknown (a 504: the update goes on, and its id answers
      // a retry): no answer is stored, the key is free again.
      await releaseIdempotencyKey(db, fence).catch((e: unknown) =>
        deps.logger.warn('idempotency release failed', { err: e }),
      );
      throw err;
    }
    await db.transaction(async (tx) => {
      if (await lockClaim(tx, fence)) await completeIdempotencyKey(tx, { ...scoped, status: 200, body });
    });
    return body;
  };

  app.openapi(
    apiRoute({
      method: 'post',
      path: '/api/v1/orders/{id}/replace',
      operationId: 'replaceOrder',
      tag: 'orders',
      auth: 'bearer',
      summary:
        'Replace price, quantity, time in force or (an untriggered stop) stop price (optimistic locking on client_version)',
      request: {
        params: IdParam,
        headers: ModifyKeyHeader,
        body: {
          content: {
            'application/json': {
              schema: ReplaceBody,
              examples: {
                limit: {
                  summary: 'A resting limit order: a smaller quantity at a lower price',
                  value: { order: { client_version: 0, quantity: 5, price: '184.50' } },
                },
                stop: {
                  summary:
                    'An untriggered stop: a new stop price (it triggers at once if the last trade meets it)',
                  value: { order: { client_version: 0, stop_price: '178.00' } },
                },
              },
            },
          },
          required: true,
        },
      },
      responses: {
        200: {
          description: 'Replaced (or, with an Idempotency-Key seen before, the first answer again)',
          sends: ['Idempotent-Replayed'],
          content: {
            'application/json': {
              schema: OrderSchema,
              examples: {
                limit: {
                  summary: 'The limit order replaced',
                  value: {
                    ...ORDER_EXAMPLE,
                    quantity: 5,
                    price: 184.5,
                    reserved_amount: 922.5,
                    lock_version: 1,
                  },
                },
                stop: {
                  summary: 'The stop, still waiting for its trigger',
                  value: { ...STOP_EXAMPLE, stop_price: 178, lock_version: 1 },
                },
              },
            },
          },
        },
      },
      errors: [403, 404, 409, 429, 504],
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const body = c.req.valid('json').order;
      const errors: string[] = [];
      const qty = body.quantity === undefined ? undefined : parseDecimal(body.quantity, 0);
      const price = body.price === undefined ? undefined : parseDecimal(body.price, CASH_SCALE);
      const stop = body.stop_price === undefined ? undefined : parseDecimal(body.stop_price, CASH_SCALE);
      if (qty && !qty.ok) errors.push(`order.quantity: ${qty.error}`);
      if (price && !price.ok) errors.push(`order.price: ${price.error}`);
      if (stop && !stop.ok) errors.push(`order.stop_price: ${stop.error}`);
      if (qty?.ok && qty.value <= 0n) errors.push('order.quantity: must be positive');
      if (price?.ok && price.value <= 0n) errors.push('order.price: must be positive');
      if (stop?.ok && stop.value <= 0n) errors.push('order.stop_price: must be positive');
      if (!qty && !price && !stop && !body.time_in_force)
        errors.push('order: nothing to replace (quantity, price, stop_price or time_in_force)');
      if (errors.length) throw new ApiError('validation_failed', 'Validation failed', errors);
      const request: ReplaceRequest = {
        clientVersion: body.client_version,
        quantity: qty?.ok ? qty.value.toString() : undefined,
        price: price?.ok ? price.value.toString() : undefined,
        stopPrice: stop?.ok ? stop.value.toString() : undefined,
        timeInForce: body.time_in_force,
      };
      // Made DAY, the order expires at the session's close, as at placement (the saga moves its timer).
      // Not part of the request's hash: the same request repeated later is still the same request.
      const expiresAt =
        body.time_in_force === 'DAY'
          ? askCalendar(() => calendar.sessionAt(deps.now())).close.toISOString()
          : undefined;
      const { accountId } = c.get('principal');
      const result = await admission.modifying(accountId, () =>
        keyed(c, id, 'replace', request, (keyedId) =>
          modify(
            id,
            accountId,
            (wid, updateId) =>
              temporal.workflow
                .getHandle(wid)
                .executeUpdate(replaceOrderUpdate, { args: [{ ...request, expiresAt }], updateId }),
            keyedId,
          ),
        ),
      );
      return c.json(result, 200);
    },
  );

  const cancelResponse = z.object({
    success: z.literal(true),
    status: z.enum(ORDER_STATUSES),
    message: z.string(),
    order: OrderSchema,
  });
  /** The answer of both cancel routes (POST .../cancel and DELETE). */
  const cancelled = {
    description: 'Cancelled (or, with an Idempotency-Key seen before, the first answer again)',
    sends: ['Idempotent-Replayed'] as const,
    content: { 'application/json': { schema: cancelResponse, example: CANCELLED_EXAMPLE } },
  };
  /** A cancel takes one of the account's modification slots, never a placement's (api/admission.ts). */
  const cancel = (c: Context<AppEnv>, id: string, clientVersion?: number) =>
    admission.modifying(c.get('principal').accountId, () =>
      keyed(c, id, 'cancel', { clientVersion }, async (keyedId) => {
        const order = await modify(
          id,
          c.get('principal').accountId,
          (wid, updateId) =>
            temporal.workflow
              .getHandle(wid)
              .executeUpdate(cancelOrderUpdate, { args: [{ clientVersion }], updateId }),
          keyedId,
        );
        return { success: true as const, status: order.status, message: 'Order cancelled', order };
      }),
    );

  app.openapi(
    apiRoute({
      method: 'post',
      path: '/api/v1/orders/{id}/cancel',
      operationId: 'cancelOrder',
      tag: 'orders',
      auth: 'bearer',
      summary: 'Cancel (optimistic locking on client_version)',
      request: {
        params: IdParam,
        headers: ModifyKeyHeader,
        body: {
          content: { 'application/json': { schema: CancelBody, example: { client_version: 0 } } },
          required: false,
        },
      },
      responses: { 200: cancelled },
      errors: [403, 404, 409, 429, 504],
    }),
    async (c) => {
      const body = isJsonBody(c.req.header('content-type')) ? c.req.valid('json') : {};
      return c.json(await cancel(c, c.req.valid('param').id, body.client_version), 200);
    },
  );

  app.openapi(
    apiRoute({
      method: 'delete',
      path: '/api/v1/orders/{id}',
      operationId: 'deleteOrder',
      tag: 'orders',
      auth: 'bearer',
      summary: 'Cancel whatever version is current',
      request: { params: IdParam, headers: ModifyKeyHeader },
      responses: { 200: cancelled },
      errors: [403, 404, 409, 429, 504],
    }),
    async (c) => c.json(await cancel(c, c.req.valid('param').id), 200),
  );

  return app;
}
