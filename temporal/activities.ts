/**
 * Activity interfaces as the workflow sees them (types only). Implementations live in activities/;
 * the trading worker runs the order activities (as local activities), the matching worker of a shard
 * runs the matching activities on its own task queue.
 */
import type { OrderAck, OrderRequest, ReplaceRequest } from './contracts.js';
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
