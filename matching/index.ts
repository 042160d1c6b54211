/** The matching engine: a pure, synchronous price-time-priority order book (see README.md). */
export { OrderBook } from './order-book.js';
export { fnv1a32, shardOf } from './shard.js';
export { Reject, REJECT_REASONS, type RejectCode, type RejectName } from './errors.js';
export type {
  Accepted,
  CancelReason,
  Cancellation,
  Depth,
  DepthLevel,
  Fill,
  LoadOptions,
  LoadOrder,
  ModifyRequest,
  NewOrder,
  OrderBookOptions,
  OrderType,
  PendingStop,
  PriceQty,
  Quote,
  Rejected,
  RestingOrder,
  Side,
  StpMode,
  SubmitResult,
  TimeInForce,
  Trade,
  Triggered,
} from './types.js';
