/**
 * Business failures (temporal/failures.ts) as HTTP problems: one complete table from failure type to
 * status and problem code. Refusals clients know answer 422 `validation_failed` with the type's client
 * text in `errors` (and the specific reason after it, when it says more); refusals added later join as
 * 422 entries with a `code` of their own, and a failure naming something that does not exist as 404.
 */
import { FAILURE_MESSAGES, isFailureType, type FailureTypeName } from '../temporal/failures.js';
import { ApiError, PROBLEM_TITLES, type ProblemCode } from './problem.js';

interface FailureProblem {
  /** The problem code's status (api/problem.ts), spelled out here for the reader; a unit test keeps them equal. */
  status: number;
  code: ProblemCode;
  headers?: Record<string, string>;
}

const refusal = { status: 422, code: 'validation_failed' } as const satisfies FailureProblem;

export const FAILURE_PROBLEMS = {
  UnknownSymbol: refusal,
  InstrumentNotTrading: refusal,
  InvalidTick: refusal,
  InvalidLot: refusal,
  PriceOutsideBand: refusal,
  TimeInForceNotAllowed: refusal,
  AccountInactive: refusal,
  InsufficientFunds: refusal,
  InsufficientShares: refusal,
  NoLiquidity: refusal,
  InvalidOrder: refusal,
  SymbolHalted: { status: 422, code: 'symbol_halted' },
  AccountFrozen: { status: 422, code: 'account_frozen' },
  KillSwitchEngaged: { status: 422, code: 'kill_switch_engaged' },
  RiskLimit: { status: 422, code: 'risk_limit' },
  UnknownAccount: { status: 404, code: 'not_found' },
  UnknownUser: { status: 404, code: 'not_found' },
  VersionConflict: { status: 409, code: 'version_conflict' },
  OrderTerminal: { status: 409, code: 'order_closed' },
  /** The saga compensated after an infrastructure failure: nothing was reserved, try again. */
  ProcessingFailed: { status: 503, code: 'service_unavailable', headers: { 'retry-after': '1' } },
  /** The order is open, its saga gone: nothing changed, operators re-adopt it (no Retry-After: not soon). */
  SagaMissing: { status: 503, code: 'saga_missing' },
} as const satisfies Record<FailureTypeName, FailureProblem>;

/**
 * The problem for a failure. `type` is absent for a reject that carries none (the engine refused the
 * order, or an update failed with a type that is not ours): a 422 with its message.
 */
export function failureProblem(
  failure: { type?: FailureTypeName; message?: string },
  extra: Record<string, unknown> = {},
): ApiError {
  const { type, message } = failure;
  const problem = type ? FAILURE_PROBLEMS[type] : refusal;
  if (problem.code === 'service_unavailable')
    return new ApiError(problem.code, FAILURE_MESSAGES.ProcessingFailed, undefined, problem.headers, extra);
  if (problem.code !== 'validation_failed') {
    const detail = message ?? PROBLEM_TITLES[problem.code];
    return new ApiError(problem.code, detail, [detail], undefined, extra);
  }
  const text = (type && FAILURE_MESSAGES[type]) ?? message ?? 'Order rejected';
  const errors = message && message !== text ? [text, message] : [text];
  return new ApiError('validation_failed', text, errors, undefined, extra);
}

/** An order a cancel-many could not cancel (temporal/saga-cancel.ts), with the code a single cancel would answer. */
export const cancelFailureJson = (f: { orderId: string; type?: string; message: string }) => ({
  order_id: f.orderId,
  code: failureProblem({ type: isFailureType(f.type) ? f.type : undefined, message: f.message }).code,
  message: f.message,
});
