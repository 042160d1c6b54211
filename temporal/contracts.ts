/**
 * What the api and the workers share about Temporal: task queues, workflow ids, message definitions
 * and JSON-safe payload types. The order vocabulary is in orders.ts, business failures in failures.ts,
 * outbox events in events.ts. Quantities and prices travel as decimal strings
 * of integers (shares and cents), never as floats or bigints.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { FailureTypeName } from './failures.js';
import type { OrderStatus, OrderType, SelfTradePrevention, Side, TimeInForce } from './orders.js';

// ---- task queues and ids ------------------------------------------------------------------------

export const TRADING_TASK_QUEUE = 'trading';
export const matchingTaskQueue = (shard: number): string => `matching-${shard}`;
/** Tests and parallel stacks isolate themselves with a prefix (config TASK_QUEUE_PREFIX). */
export const withPrefix = (prefix: string, queue: string): string => (prefix ? `${prefix}${queue}` : queue);

/** The matching activities' start-to-close timeout, in ms, unless the saga's input says otherwise. */
export const MATCHING_START_TO_CLOSE_MS_DEFAULT = 10_000;
/** Their schedule-to-close timeout (all attempts), in ms, unless the saga's input says otherwise. */
export const MATCHING_SCHEDULE_TO_CLOSE_MS_DEFAULT = 120_000;

/** One saga per (account, client order id): a retried POST attaches to the same workflow. */
export const orderWorkflowId = (accountId: string, clientOrderId: string): string =>
  `order-${accountId}-${clientOrderId}`;

// ---- payloads -------------------------------------------------------------------------------------

export interface OrderRequest {
  orderId: string;
  accountId: string;
  clientOrderId: string;
  symbol: string;
  side: Side;
  orderType: OrderType;
  timeInForce: TimeInForce;
  /** Integer shares, as a decimal string. */
  quantity: string;
  /** Integer cents, as a decimal string; absent for market and stop orders. */
  price?: string;
  /** Absent in requests from before the field: the default, cancel_newest. */
  selfTradePrevention?: SelfTradePrevention;
  /** Stop and stop-limit orders: the trigger price, integer cents as a decimal string. */
  stopPrice?: string;
}

/**
 * What makes two placements with one client_order_id the same order: everything the client chose, after
 * defaults. Stored with the order when it is persisted, so that a later placement is compared with the
 * original request, not with the row a replace may have changed.
 */
export function orderFingerprint(o: OrderRequest): string {
  return JSON.stringify([
    o.symbol,
    o.side,
    o.orderType,
    o.timeInForce,
    o.quantity,
    o.price ?? null,
    o.selfTradePrevention ?? 'cancel_newest',
    // Only stops have one: the fingerprints of other orders stay what they were before stops.
    ...(o.stopPrice === undefined ? [] : [o.stopPrice]),
  ]);
}

export interface TradingSagaInput {
  order: OrderRequest;
  /** Where the matching shard of this order's symbol listens. */
  matchingTaskQueue: string;
  /** ISO time at which a DAY order expires (the session close), computed by the api. */
  expiresAt?: string;
  /**
   * Start-to-close timeout of the matching activities, in ms (the api's MATCHING_START_TO_CLOSE_MS): how
   * long a step a dead shard owner had taken waits before its retry. Absent in sagas started before the
   * field: the default, MATCHING_START_TO_CLOSE_MS_DEFAULT.
   */
  matchingStartToCloseMs?: number;
  /**
   * Schedule-to-close timeout of the matching activities, in ms (the api's MATCHING_SCHEDULE_TO_CLOSE_MS):
   * how long a step waits for a shard owner, all its attempts together, before it fails. Absent in sagas
   * started before the field: the default, MATCHING_SCHEDULE_TO_CLOSE_MS_DEFAULT.
   */
  matchingScheduleToCloseMs?: number;
  /** Carried across continue-as-new. */
  state?: SagaState;
}

/** What the saga knows about its order; returned by the `state` query. */
export interface SagaState {
  orderId: string;
  status: OrderStatus;
  /** pending → validated → reserved → persisted → submitted → live → done | compensating | needs_attention */
  phase: SagaPhase;
  lockVersion: number;
  quantity: string;
  price?: string;
  filledQuantity: string;
  reservedAmount: string;
  rejectReason?: string;
  rejectCode?: FailureTypeName;
  /**
   * The latest MAX_KEPT_FILL_IDS fill (trade) ids the saga received, each once: a fill redelivered among
   * them is dropped by its id, an older one by its filled quantity (already counted). All of an order's
   * fills are its trades in Postgres. Sagas from before the bound kept every id.
   */
  fillIds: string[];
  /** The compensations that ran, by name (COMPENSATION_STEPS). */
  compensations: string[];
  /**
   * Answers of the replace and cancel updates sent with an Idempotency-Key (by update id, the latest
   * MAX_KEPT_ANSWERS): the same update again gets its first answer, also after continue-as-new and
   * after the saga ended (its result carries them).
   */
  answers?: Record<string, OrderAck>;
}

/**
 * The saga's compensations (each pushed before the step it undoes, run in reverse) and how one ends:
 * `failed` once its retries are exhausted (the saga parks in needs_attention). The labels of
 * `saga_compensations_total{step,outcome}`, which the trading worker exports at 0 from its start.
 */
export const COMPENSATION_STEPS = ['releaseReservation', 'withdrawFromBook'] as const;
export type CompensationStep = (typeof COMPENSATION_STEPS)[number];
export const COMPENSATION_OUTCOMES = ['ok', 'failed'] as const;
export type CompensationOutcome = (typeof COMPENSATION_OUTCOMES)[number];

/** Update ids of replace and cancel requests with an Idempotency-Key start with this. */
export const IDEMPOTENT_UPDATE_PREFIX = 'idem:';
export const MAX_KEPT_ANSWERS = 32;
/**
 * Fill ids a saga keeps (SagaState.fillIds), some 40 KB: every id of an order of 1-share fills, carried
 * through continue-as-new, passed Temporal's 2 MiB payload limit at ~53,700 fills, and ended the saga.
 */
export const MAX_KEPT_FILL_IDS = 1000;
/** The update id for a keyed request: one per key, operation and request body, on the order's saga. */
export const idempotentUpdateId = (op: 'replace' | 'cancel', key: string, requestHash: string): string =>
  `${IDEMPOTENT_UPDATE_PREFIX}${op}:${requestHash.slice(0, 16)}:${key}`;

export type SagaPhase =
  | 'validating'
  | 'reserving'
  | 'persisting'
  | 'submitting'
  | 'live'
  | 'done'
  | 'compensating'
  | 'needs_attention';

export interface OrderAck {
  orderId: string;
  clientOrderId: string;
  status: OrderStatus;
  lockVersion: number;
  filledQuantity: string;
  reservedAmount: string;
  rejectReason?: string;
  rejectCode?: FailureTypeName;
  /**
   * The order row as the step that produced this answer committed it, when the saga's state is still
   * that row's (no fill signal since): the api answers with it instead of reading the order again.
   * Absent in answers kept for keyed repeats and in histories recorded before it existed.
   */
  order?: CommittedOrder;
}

/** An order row as committed, JSON-safe: integers as decimal strings, times as ISO strings. */
export interface CommittedOrder {
  id: string;
  accountId: string;
  clientOrderId: string;
  symbol: string;
  side: Side;
  orderType: OrderType;
  timeInForce: TimeInForce;
  selfTradePrevention: SelfTradePrevention;
  status: OrderStatus;
  quantity: string;
  price: string | null;
  stopPrice: string | null;
  triggeredAt: string | null;
  filledQuantity: string;
  filledNotional: string;
  reservedAmount: string;
  lockVersion: number;
  rejectReason: string | null;
  requestFingerprint: string | null;
  createdAt: string;
  updatedAt: string;
}

/** The ACK with the committed row, when the row is the state the ACK reports. */
export const withCommittedOrder = (ack: OrderAck, order: CommittedOrder | undefined): OrderAck =>
  order !== undefined &&
  order.status === ack.status &&
  order.lockVersion === ack.lockVersion &&
  order.filledQuantity === ack.filledQuantity &&
  order.reservedAmount === ack.reservedAmount
    ? { ...ack, order }
    : ack;

/** The ACK a saga answers with, from its state. */
export const ackOf = (state: SagaState, clientOrderId: string): OrderAck => ({
  orderId: state.orderId,
  clientOrderId,
  status: state.status,
  lockVersion: state.lockVersion,
  filledQuantity: state.filledQuantity,
  reservedAmount: state.reservedAmount,
  rejectReason: state.rejectReason,
  rejectCode: state.rejectCode,
});

export interface FillSignal {
  fillId: string;
  orderId: string;
  quantity: string;
  price: string;
  /** The order's state after the fill, as committed by the matching worker. */
  filledQuantity: string;
  status: OrderStatus;
  reservedAmount: string;
}

/** The order closed outside the saga's own updates (IOC remainder, self-trade cancel, expiry by the book). */
export interface OrderClosedSignal {
  orderId: string;
  status: OrderStatus;
  reservedAmount: string;
}

/** A stop order triggered in another order's step (it left `pending_trigger`); its fills follow as fill signals. */
export interface OrderTriggeredSignal {
  orderId: string;
  status: OrderStatus;
  reservedAmount: string;
  triggeredAt: string;
}

export interface ReplaceRequest {
  /** Set by the saga (deterministic uuid4): the matching worker applies each request once. */
  requestId?: string;
  clientVersion: number;
  quantity?: string;
  price?: string;
  timeInForce?: TimeInForce;
  /** An untriggered stop's new stop price (integer cents). */
  stopPrice?: string;
  /** With timeInForce DAY: the ISO time of the session close, computed by the api (the saga's new expiry). */
  expiresAt?: string;
}

export interface CancelRequest {
  requestId?: string;
  clientVersion?: number;
}

// ---- messages -----------------------------------------------------------------------------------

export const placeOrderUpdate = defineUpdate<OrderAck, []>('placeOrder');
export const replaceOrderUpdate = defineUpdate<OrderAck, [ReplaceRequest]>('replaceOrder');
export const cancelOrderUpdate = defineUpdate<OrderAck, [CancelRequest]>('cancelOrder');
export const fillSignal = defineSignal<[FillSignal]>('fill');
export const orderClosedSignal = defineSignal<[OrderClosedSignal]>('orderClosed');
export const orderTriggeredSignal = defineSignal<[OrderTriggeredSignal]>('orderTriggered');
export const stateQuery = defineQuery<SagaState>('state');
