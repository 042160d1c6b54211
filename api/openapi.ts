/**
 * Routes are declared once with zod schemas (`createRoute`), which give both request validation and the
 * OpenAPI 3.1 document. `createRouter()` is the sub-app factory every resource uses.
 */
import { OpenAPIHono, z } from '@hono/zod-openapi';
import type { ZodError } from 'zod';
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
  if (target === 'json' && isShapeError(error)) return new ApiError('bad_request', 'Request body has the wrong shape', zodErrors(error));
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
    statuses.map((s) => [s, { description: 'Problem', content: { 'application/problem+json': { schema: ProblemSchema } } }]),
  );

/** Money or price input: a JSON number or a decimal string, parsed exactly later (lib/money.ts). */
export const DecimalInput = z
  .union([z.number(), z.string().max(32)])
  .openapi({ type: 'string', example: '100.50', description: 'Decimal as a JSON number or string; parsed exactly' });
