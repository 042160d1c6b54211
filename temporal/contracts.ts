/**
 * What the api and the workers share about Temporal: task queues, workflow ids, message definitions,
 * JSON-safe payload types and the error-type table. Quantities and prices travel as decimal strings
 * of integers (shares and cents), never as floats or bigints.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';

// ---- task queues and ids ------------------------------------------------------------------------

export const TRADING_TASK_QUEUE = 'trading';
export const matchingTaskQueue = (shard: number): string => `matching-${shard}`;
/** Tests and parallel stacks isolate themselves with a prefix (config TASK_QUEUE_PREFIX). */
export const withPrefix = (prefix: string, queue: string): string => (prefix ? `${prefix}${queue}` : queue);

/** One saga per (account, client order id): a retried POST attaches to the same workflow. */
export const orderWorkflowId = (accountId: string, clientOrderId: string): string =>
  `order-${accountId}-${clientOrderId}`;

// ---- payloads -------------------------------------------------------------------------------------

export type Side = 'buy' | 'sell';
export type OrderType = 'market' | 'limit';
export type TimeInForce = 'DAY' | 'GTC' | 'IOC' | 'FOK';
export type OrderStatus = 'pending' | 'working' | 'partially_filled' | 'filled' | 'cancelled' | 'expired' | 'rejected';
export const TERMINAL_STATUSES: readonly OrderStatus[] = ['filled', 'cancelled', 'expired', 'rejected'];
export const isTerminal = (s: OrderStatus): boolean => TERMINAL_STATUSES.includes(s);

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
  /** Integer cents, as a decimal string; absent for market orders. */
  price?: string;
}

export interface TradingSagaInput {
  order: OrderRequest;
  /** Where the matching shard of this order's symbol listens. */
  matchingTaskQueue: string;
  /** ISO time at which a DAY order expires (the session close), computed by the api. */
  expiresAt?: string;
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
  rejectCode?: ErrorTypeName;
  fillIds: string[];
  compensations: string[];
}

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
  rejectCode?: ErrorTypeName;
}

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

export interface ReplaceRequest {
  /** Set by the saga (deterministic uuid4): the matching worker applies each request once. */
  requestId?: string;
  clientVersion: number;
  quantity?: string;
  price?: string;
  timeInForce?: TimeInForce;
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
export const stateQuery = defineQuery<SagaState>('state');

// ---- errors ---------------------------------------------------------------------------------------

/** Application failure types: business rejects are non-retryable and map to HTTP problems. */
export const ErrorType = {
  UnknownSymbol: 'UnknownSymbol',
  InstrumentNotTrading: 'InstrumentNotTrading',
  InvalidTick: 'InvalidTick',
  InvalidLot: 'InvalidLot',
  PriceOutsideBand: 'PriceOutsideBand',
  TimeInForceNotAllowed: 'TimeInForceNotAllowed',
  AccountInactive: 'AccountInactive',
  InsufficientFunds: 'InsufficientFunds',
  InsufficientShares: 'InsufficientShares',
  NoLiquidity: 'NoLiquidity',
  VersionConflict: 'VersionConflict',
  OrderTerminal: 'OrderTerminal',
  InvalidOrder: 'InvalidOrder',
  /** Infrastructure failure that outlived its retry policy; the saga compensated. */
  ProcessingFailed: 'ProcessingFailed',
} as const;
export type ErrorTypeName = (typeof ErrorType)[keyof typeof ErrorType];

/** Human-readable messages that clients see in `errors` of a `validation_failed` answer ("Insufficient funds"). */
export const ERROR_MESSAGES: Record<ErrorTypeName, string> = {
  UnknownSymbol: 'Unknown symbol',
  InstrumentNotTrading: 'Instrument is not trading',
  InvalidTick: 'Price is not a multiple of the tick size',
  InvalidLot: 'Quantity is not a multiple of the lot size',
  PriceOutsideBand: 'Price is outside the allowed band',
  TimeInForceNotAllowed: 'Time in force not allowed for this order type',
  AccountInactive: 'Account is not active',
  InsufficientFunds: 'Insufficient funds',
  InsufficientShares: 'Insufficient shares',
  NoLiquidity: 'No liquidity for market order',
  VersionConflict: 'Version conflict',
  OrderTerminal: 'Order is already closed',
  InvalidOrder: 'Invalid order',
  ProcessingFailed: 'Order could not be processed, nothing was reserved',
};
