/**
 * Routes are declared once with zod schemas (`createRoute`), which give both request validation and the
 * OpenAPI 3.1 document. `createRouter()` is the sub-app factory every resource uses.
 */
import { OpenAPIHono, z } from '@hono/zod-openapi';
import type { ZodError } from 'zod';
import { formatDecimal, parseDecimal } from '../lib/money.js';
import { ApiError } from './problem.js';
import type { AppEnv } from './types.js';

/** Turn zod issues into the `errors` list clients read: "order.quantity: must be positive". */
export function zodErrors(error: ZodError): string[] {
  return error.issues.map((i) => {
    const where = i.path.map(String).join('.');
    return where ? `${where}: ${i.message}` : i.message;
  });
}

/** A missing or mistyped top-level wrapper (`{order: ...}` absent) is a 400; anything deeper is a 422. */
function isShapeError(error: ZodError): boolean {
  return error.issues.some((i) => i.path.length <= 1 && i.code === 'invalid_type' && i.expected === 'object');
}

export function validationError(error: ZodError, target: string): ApiError {
  if (target === 'json' && isShapeError(error))
    return new ApiError('bad_request', 'Request body has the wrong shape', zodErrors(error));
  return new ApiError('validation_failed', 'Validation failed', zodErrors(error));
}

export function createRouter(): OpenAPIHono<AppEnv> {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) throw validationError(result.error, result.target);
    },
  });
}

/** Problem+json schema for the OpenAPI document. */
export const ProblemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    success: z.literal(false),
    code: z.string(),
    message: z.string(),
    errors: z.array(z.string()).optional(),
    request_id: z.string().optional(),
  })
  .openapi('Problem');

export const problemResponses = (...statuses: number[]) =>
  Object.fromEntries(
    statuses.map((s) => [
      s,
      { description: 'Problem', content: { 'application/problem+json': { schema: ProblemSchema } } },
    ]),
  );

/**
 * Money, price or quantity input (a JSON number or a decimal string, parsed exactly later) with an upper bound, checked by the schema and documented in OpenAPI (`maximum`). Other
 * faults (not a number, too many decimals, not positive) are left to the route's own exact parsing.
 */
export function boundedDecimal(opts: { scale: number; max: bigint; example: string; description: string }) {
  const maxText = formatDecimal(opts.max, opts.scale);
  return z
    .union([z.number(), z.string().max(32)])
    .superRefine((value, ctx) => {
      const parsed = parseDecimal(value, opts.scale);
      if (parsed.ok && parsed.value > opts.max)
        ctx.addIssue({ code: 'custom', message: `must be at most ${maxText}` });
    })
    .openapi({
      type: 'string',
      example: opts.example,
      maximum: Number(maxText),
      description: `${opts.description}; at most ${maxText}. A JSON number or a decimal string, parsed exactly`,
    });
}
