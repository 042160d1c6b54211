/**
 * Activity interfaces as the workflow sees them (types only). Implementations live in activities/;
 * the trading worker runs the order activities (as local activities), the matching worker of a shard
 * runs the matching activities on its own task queue.
 */
import type { CommittedOrder, OrderAck, OrderRequest, ReplaceRequest } from './contracts.js';
import type { ControlRequest } from './controls.js';
import type { CancelReason, OrderStatus } from './orders.js';

/** An order on its way into the book: the request, its saga, what validation reserves for it. */
export interface PendingOrder {
  order: OrderRequest;
  workflowId: string;
  reserved: ValidatedOrder;
  /**
   * A DAY order's session close (the saga's `expiresAt`), recorded with the order: the shard expires it
   * from then on. Absent for other orders and in sagas recorded before the field.
   */
  expiresAt?: string;
}

export interface ValidatedOrder {
  /** Cash (cents) for buys, shares for sells, as a decimal string. */
  reserveAsset: string;
  reserveAmount: string;
  /** The price used for the reservation: the limit, or the collar for market buys (cents). */
  reservePrice: string;
}

export interface OrderActivities {
  validateOrder(order: OrderRequest): Promise<ValidatedOrder>;
  /**
   * Reserve what validation asked for and record the order pending, in one statement: `persisted`. Undefined
   * from a reserve that records nothing (the baselines' empty step; sagas recorded before the two writes
   * were merged returned nothing too).
   */
  reserveFunds(args: PendingOrder): Promise<{ persisted: boolean } | undefined>;
  /**
   * Record the order pending unless the reserve step did (`persisted`): a step of its own so that the
   * saga's commands stay those of the recorded histories, empty since the reserve writes the order.
   */
  persistOrder(args: PendingOrder & { persisted?: boolean }): Promise<void>;
  /** Compensation: give back whatever the order still has reserved and mark it rejected. */
  releaseReservation(args: { orderId: string; accountId: string; reason: string }): Promise<void>;
}

/** The committed state of an order after a matching-worker operation. */
export interface OrderSnapshot {
  orderId: string;
  status: OrderStatus;
  lockVersion: number;
  filledQuantity: string;
  reservedAmount: string;
  quantity: string;
  price?: string;
  rejectReason?: string;
  /**
   * Fills the operation produced for this order, the latest MAX_KEPT_FILL_IDS (so the saga can dedupe
   * the relay's signals); none for a retry or a cancel (the saga drops signals within `filledQuantity`).
   */
  fillIds: string[];
  /** The whole row as committed (the ACK carries it to the api). */
  order?: CommittedOrder;
}

export interface MatchingActivities {
  submitOrder(args: { orderId: string }): Promise<OrderSnapshot>;
  cancelOrder(args: {
    orderId: string;
    requestId?: string;
    clientVersion?: number;
    reason: CancelReason;
  }): Promise<OrderSnapshot>;
  replaceOrder(args: { orderId: string } & ReplaceRequest): Promise<OrderSnapshot>;
}

export type { OrderAck };

/** The MarketControls workflow's steps (trading worker), idempotent by action id. */
export interface ControlActivities {
  /**
   * Write the action through to Postgres with its audit row, in one transaction holding the action's
   * control lock exclusively. Unknown symbol or account: a business failure.
   */
  applyControl(args: {
    actionId: string;
    at: string;
    request: ControlRequest;
    workflowId: string;
    runId: string;
  }): Promise<void>;
  /** Cancel the open orders of the scope through their sagas; records the outcome on the audit row. */
  cancelOpenOrders(args: {
    actionId: string;
    scope: { symbol?: string; accountId?: string };
  }): Promise<{ cancelled: string[]; failed: { orderId: string; type?: string; message: string }[] }>;
}
