/**
 * Errors as RFC 9457 problem+json, with the members existing BrokerX clients read (`success`, `code`,
 * `message`, `errors`). One `code -> status` table; every error response goes through `problem()`.
 */
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { redactText } from '../lib/logger.js';

export const PROBLEM_STATUS = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  version_conflict: 409,
  conflict: 409,
  order_closed: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  validation_failed: 422,
  password_too_common: 422,
  idempotency_mismatch: 422,
  idempotency_in_progress: 409,
  client_order_id_conflict: 422,
  market_closed: 422,
  symbol_halted: 422,
  account_frozen: 422,
  kill_switch_engaged: 422,
  risk_limit: 422,
  too_many_requests: 429,
  internal_error: 500,
  service_unavailable: 503,
  calendar_unavailable: 503,
  saga_missing: 503,
  timeout: 504,
} as const;
export type ProblemCode = keyof typeof PROBLEM_STATUS;

export const PROBLEM_TITLES: Record<ProblemCode, string> = {
  bad_request: 'Bad request',
  unauthorized: 'Unauthorized',
  forbidden: 'Forbidden',
  not_found: 'Not found',
  method_not_allowed: 'Method not allowed',
  version_conflict: 'Version conflict',
  conflict: 'Conflict',
  order_closed: 'Order is closed',
  payload_too_large: 'Payload too large',
  unsupported_media_type: 'Unsupported media type',
  validation_failed: 'Validation failed',
  password_too_common: 'Password too easy to guess',
  idempotency_mismatch: 'Idempotency key reused with a different request',
  idempotency_in_progress: 'A request with this idempotency key is in progress',
  client_order_id_conflict: 'client_order_id reused with a different order',
  market_closed: 'The market is closed',
  symbol_halted: 'Symbol halted',
  account_frozen: 'Account frozen',
  kill_switch_engaged: 'Kill switch engaged',
  risk_limit: 'Risk limit exceeded',
  too_many_requests: 'Too many requests',
  internal_error: 'Internal server error',
  service_unavailable: 'Service unavailable',
  calendar_unavailable: 'Trading calendar unavailable',
  saga_missing: "The order's saga is missing",
  timeout: 'Timed out',
};

/** Throw from any handler; `onError` renders it. */
export class ApiError extends Error {
  constructor(
    readonly code: ProblemCode,
    message?: string,
    readonly errors?: string[],
    readonly headers?: Record<string, string>,
    readonly extra?: Record<string, unknown>,
  ) {
    super(message ?? PROBLEM_TITLES[code]);
    this.name = 'ApiError';
  }
  get status(): number {
    return PROBLEM_STATUS[this.code];
  }
}

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  success: false;
  code: ProblemCode;
  message: string;
  errors?: string[];
  request_id?: string;
  [k: string]: unknown;
}

export function problemBody(
  code: ProblemCode,
  detail?: string,
  errors?: string[],
  extra?: Record<string, unknown>,
): ProblemBody {
  const message = detail ?? PROBLEM_TITLES[code];
  // Extra members first: they may add context but never replace the RFC 9457 or legacy members.
  return {
    ...extra,
    type: `https://brokerx.dev/problems/${code.replace(/_/g, '-')}`,
    title: PROBLEM_TITLES[code],
    status: PROBLEM_STATUS[code],
    detail: message,
    success: false,
    code,
    message,
    ...(errors ? { errors } : {}),
  };
}

export function problem(c: Context, err: ApiError): Response {
  const body = problemBody(err.code, err.message, err.errors, err.extra);
  const requestId = c.get('requestId' as never) as string | undefined;
  if (requestId) body.request_id = requestId;
  body.instance = redactText(c.req.path); // past MAX_TEXT_LENGTH cut and marked, as the logger writes it
  // Through the context, so that headers set before the failure (c.header) stay on the answer.
  return c.body(JSON.stringify(body), err.status as ContentfulStatusCode, {
    'content-type': 'application/problem+json',
    ...err.headers,
  });
}
