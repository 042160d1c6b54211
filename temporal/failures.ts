/**
 * Business failures: the one place that builds them (`businessFailure`) and the one place that reads
 * them back (`readBusinessFailure`). The saga, the order activities and the shard's operations throw
 * what `businessFailure` builds: a non-retryable ApplicationFailure of the benign category whose `type`
 * is a `FailureType` and whose details are that type's typed details. The api maps each type to an HTTP
 * status and problem code in one table (api/failures.ts).
 */
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import type { OrderStatus } from './orders.js';

export const FailureType = {
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
  /** Operator controls (docs/adr/0022-risk-controls-through-temporal.md). */
  SymbolHalted: 'SymbolHalted',
  AccountFrozen: 'AccountFrozen',
  KillSwitchEngaged: 'KillSwitchEngaged',
  RiskLimit: 'RiskLimit',
  UnknownAccount: 'UnknownAccount',
  UnknownUser: 'UnknownUser',
  /** Infrastructure failure that outlived its retry policy; the saga compensated. */
  ProcessingFailed: 'ProcessingFailed',
  /**
   * No saga throws this: the api and saga-cancel.ts report it for an open order whose saga is gone
   * (lost with Temporal's database, or terminated) until operators re-adopt it (stuck-saga.md).
   */
  SagaMissing: 'SagaMissing',
} as const;
export type FailureTypeName = (typeof FailureType)[keyof typeof FailureType];

/** Human-readable messages that clients see in `errors` (the texts existing clients match on, such as "Insufficient funds"). */
export const FAILURE_MESSAGES: Record<FailureTypeName, string> = {
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
  SymbolHalted: 'Trading in this symbol is halted',
  AccountFrozen: 'Account is frozen',
  KillSwitchEngaged: 'Trading is stopped by the kill switch',
  RiskLimit: 'The order exceeds a risk limit of the account',
  UnknownAccount: 'Unknown account',
  UnknownUser: 'Unknown user',
  ProcessingFailed: 'Order could not be processed, nothing was reserved',
  SagaMissing:
    'The order is open but cannot be changed now: operators are recovering its processing; contact support if this persists',
};

/** Typed details of the failure types that carry any (the others carry none). */
export interface FailureDetailsTable {
  VersionConflict: { clientVersion: number; lockVersion: number };
  OrderTerminal: { status: OrderStatus };
  RiskLimit: { limit: RiskLimitName };
}

/** The per-account limits an operator can set (api: PUT /api/v1/admin/accounts/{id}/limits). */
export const RISK_LIMIT_NAMES = [
  'max_order_notional',
  'max_open_orders',
  'max_position',
  'max_daily_notional',
] as const;
export type RiskLimitName = (typeof RISK_LIMIT_NAMES)[number];
export type FailureDetails<T extends FailureTypeName> = T extends keyof FailureDetailsTable
  ? FailureDetailsTable[T]
  : undefined;

/** A business failure as read back: its type, its message (the specific reason) and its details. */
export interface BusinessFailure<T extends FailureTypeName = FailureTypeName> {
  type: T;
  message: string;
  details?: FailureDetails<T>;
}

/** A rule check's verdict: the failure to throw, or null when the rule holds. */
export type RuleViolation = { type: FailureTypeName; message: string } | null;

/**
 * The business failure of `type`, to throw. `message` defaults to the type's client text
 * (`FAILURE_MESSAGES`); `details` are the type's typed details, where it has any.
 */
export function businessFailure<T extends FailureTypeName>(
  type: T,
  message?: string,
  details?: FailureDetails<T>,
): ApplicationFailure {
  return ApplicationFailure.create({
    type,
    message: message ?? FAILURE_MESSAGES[type],
    nonRetryable: true,
    category: 'BENIGN',
    details: details === undefined ? undefined : [details],
  });
}

/** An order that is no longer live (filled, cancelled, expired, rejected): what a replace or cancel gets. */
export const orderClosed = (status: OrderStatus): ApplicationFailure =>
  businessFailure(FailureType.OrderTerminal, `Order is ${status}`, { status });

/** A replace or cancel whose `client_version` is not the order's current `lock_version`. */
export const versionConflict = (clientVersion: number, lockVersion: number): ApplicationFailure =>
  businessFailure(
    FailureType.VersionConflict,
    `client_version ${clientVersion} does not match lock_version ${lockVersion}`,
    { clientVersion, lockVersion },
  );

const TYPES = new Set<string>(Object.values(FailureType));
export const isFailureType = (t: unknown): t is FailureTypeName => typeof t === 'string' && TYPES.has(t);

/**
 * The business failure behind an error, if that is what it is: an ApplicationFailure of a
 * `FailureType`, as thrown, as the cause of an activity failure, or as the cause of a failed update
 * (anything with an ApplicationFailure `cause`, e.g. the client's WorkflowUpdateFailedError).
 */
export function readBusinessFailure(err: unknown): BusinessFailure | undefined {
  const failure =
    err instanceof ActivityFailure
      ? err.cause
      : err instanceof ApplicationFailure
        ? err
        : (err as { cause?: unknown } | null)?.cause;
  if (!(failure instanceof ApplicationFailure) || !isFailureType(failure.type)) return undefined;
  const [details] = failure.details ?? [];
  return {
    type: failure.type,
    message: failure.message,
    details: details as FailureDetails<FailureTypeName>,
  };
}
