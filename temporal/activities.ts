/**
 * Activity interfaces as the workflow sees them (types only). Implementations live in activities/;
 * the trading worker runs the order activities (as local activities), the matching worker of a shard
 * runs the matching activities on its own task queue.
 */
import type { CommittedOrder, OrderAck, OrderRequest, ReplaceRequest } from './contracts.js';
import type { ControlRequest } from './controls.js';
import type { CancelReason, OrderStatus } from './orders.js';

export interface ValidatedOrder {
  /** Cash (cents) for buys, shares for sells, as a decimal string. */
  reserveAsset: string;
  reserveAmount: string;
  /** The price used for the reservation: the limit, or the collar for market buys (cents). */
  reservePrice: string;
}

export interface OrderActivities {
  validateOrder(order: OrderRequest): Promise<ValidatedOrder>;
  reserveFunds(args: { orderId: string; accountId: string; asset: string; amount: string }): Promise<void>;
  persistOrder(args: { order: OrderRequest; workflowId: string; reserved: ValidatedOrder }): Promise<void>;
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
  /** Fills the operation produced for this order (so the saga can dedupe the relay's signals). */
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
