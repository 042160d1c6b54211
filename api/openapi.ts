/**
 * Routes are declared once with zod schemas (`createRoute`), which give both request validation and the
 * OpenAPI 3.1 document. `createRouter()` is the sub-app factory every resource uses.
 */
import { createRoute, OpenAPIHono, z, type RouteConfig } from '@hono/zod-openapi';
import type { Config } from '../lib/config.js';
import type { ZodError } from 'zod';
import { formatDecimal, parseDecimal } from '../lib/money.js';
import { ApiError, PROBLEM_STATUS, problemBody, type ProblemCode } from './problem.js';
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
    instance: z.string().optional().openapi({
      description:
        'The path of the request as the api logs it: past 1,024 characters cut and marked, e-mail addresses masked',
    }),
    success: z.literal(false),
    code: z.enum(Object.keys(PROBLEM_STATUS) as [ProblemCode, ...ProblemCode[]]),
    message: z.string(),
    errors: z.array(z.string()).optional(),
    request_id: z.string().optional(),
  })
  .openapi({
    description:
      'RFC 9457 problem details, with the members existing BrokerX clients read (success, code, message, errors); some problems add members (order_id, retry_after, ...)',
    example: problemBody('validation_failed', 'Validation failed', ['order.quantity: must be positive']),
  });

/**
 * Money, price or quantity input (a JSON number or a decimal string, parsed exactly later) with an upper bound, checked by the schema and documented in OpenAPI (`maximum`). Other
 * faults (not a number, too many decimals, not positive) are left to the route's own exact parsing.
 */
export function boundedDecimal(opts: { scale: number; max: bigint; example: string; description: string }) {
  const maxText = formatDecimal(opts.max, opts.scale);
  return z
    .union([
      z.number().openapi({ maximum: Number(maxText) }),
      z.string().max(32).openapi({ pattern: '^[0-9]+(\\.[0-9]+)?$' }),
    ])
    .superRefine((value, ctx) => {
      const parsed = parseDecimal(value, opts.scale);
      if (parsed.ok && parsed.value > opts.max)
        ctx.addIssue({ code: 'custom', message: `must be at most ${maxText}` });
    })
    .openapi({
      example: opts.example,
      description: `${opts.description}; at most ${maxText}. A JSON number or a decimal string, parsed exactly`,
    });
}

const LOCAL = /^https?:\/\/(localhost|127\.0\.0\.1)(:|\/|$)/;

/** The document's top: info, servers and tags (api/app.ts serves it at /openapi.json). */
export function documentConfig(config: Pick<Config, 'PUBLIC_URL'>) {
  return {
    openapi: '3.1.0',
    info: {
      title: 'BrokerX API',
      version: '1.0.0',
      description: 'Brokerage backend: identity, funding, orders through Temporal sagas, market data.',
    },
    servers: [
      { url: '/', description: 'The instance that serves this document' },
      ...(LOCAL.test(config.PUBLIC_URL)
        ? []
        : [{ url: config.PUBLIC_URL, description: 'Public address (PUBLIC_URL)' }]),
    ],
    tags: Object.entries(TAGS).map(([name, description]) => ({ name, description })),
  };
}

/**
 * The contract every operation keeps, made structural: `apiRoute()` is `createRoute()` that requires an
 * `operationId`, one tag of TAGS, `auth` (the security requirement; public operations say so) and the
 * error statuses the handler itself answers, requires an example (or named examples) for every JSON
 * body it names, and adds what every operation of this API can answer: 500; 400 and 422 (the edge guard,
 * api/input-guard.ts, reads every request's path, query string and headers); 413 unless a GET (the body
 * limit counts any other request's body); 415 with a body; 401 behind a bearer token; 503 when a
 * dependency is out (unless `offline`; an offline route that asks the trading calendar declares its
 * 503 itself); and the headers every response carries (X-Request-Id, X-Instance). api/openapi.test.ts
 * walks the document and names the operation that misses any of it.
 */
export const TAGS = {
  identity: 'Registration, login with a second factor, tokens, passwords and public keys',
  funding: 'Deposits, withdrawals, balances, positions and statements',
  orders: 'Placing, replacing and cancelling orders, and their executions',
  'market data': 'Quotes, depth and trades (public)',
  admin:
    'Operator controls (operators only): halts, freezes, kill switches, risk limits, user suspensions and their audit trail',
  ops: 'Liveness and readiness',
} as const;
export type Tag = keyof typeof TAGS;

/** The statuses a route may declare in `errors`; each is a shared response component (PROBLEM_RESPONSES). */
export type ErrorStatus = 400 | 401 | 403 | 404 | 409 | 413 | 415 | 422 | 429 | 500 | 503 | 504;

/** One example problem per status: what the API answers there (the detail of a typical case). */
const PROBLEM_RESPONSES: Record<
  ErrorStatus,
  {
    name: string;
    description: string;
    code: ProblemCode;
    detail: string;
    errors?: string[];
    headers?: string[];
  }
> = {
  400: {
    name: 'BadRequest',
    description: 'Malformed request: not JSON, wrong shape, or a required header missing',
    code: 'bad_request',
    detail: 'Request body has the wrong shape',
    errors: ['order: Invalid input: expected object, received undefined'],
  },
  401: {
    name: 'Unauthorized',
    description:
      'No valid credentials (a missing, expired or revoked access token; a wrong password or code)',
    code: 'unauthorized',
    detail: 'A bearer access token is required',
    headers: ['WWW-Authenticate'],
  },
  403: {
    name: 'Forbidden',
    description: "Not allowed: another account's resource, or an account that may not do this",
    code: 'forbidden',
    detail: 'This order belongs to another account',
  },
  404: { name: 'NotFound', description: 'No such resource', code: 'not_found', detail: 'Order not found' },
  409: {
    name: 'Conflict',
    description:
      'The resource changed or is busy: a stale client_version, a closed order, a request with this idempotency key still running (retry after Retry-After seconds)',
    code: 'version_conflict',
    detail: 'Order version is 3, request had 2',
    errors: ['Order version is 3, request had 2'],
    headers: ['Retry-After'],
  },
  413: {
    name: 'PayloadTooLarge',
    description: 'The request body exceeds BODY_LIMIT_BYTES',
    code: 'payload_too_large',
    detail: 'Request body exceeds 65536 bytes',
  },
  415: {
    name: 'UnsupportedMediaType',
    description: 'A request body that is not sent as application/json (or sent without a Content-Type)',
    code: 'unsupported_media_type',
    detail: 'Unsupported Media Type',
  },
  422: {
    name: 'ValidationFailed',
    description:
      'The request is well-formed but refused: invalid fields, or a business rule (insufficient funds, unknown symbol, a new password too easy to guess: password_too_common, ...)',
    code: 'validation_failed',
    detail: 'Validation failed',
    errors: ['order.quantity: must be positive'],
  },
  429: {
    name: 'TooManyRequests',
    description: 'A rate limit or the order admission limit: retry after Retry-After seconds',
    code: 'too_many_requests',
    detail: 'Too many attempts; retry in 60 s',
    headers: ['Retry-After'],
  },
  500: {
    name: 'InternalError',
    description: 'An unexpected error (logged with the request id)',
    code: 'internal_error',
    detail: 'An unexpected error occurred',
  },
  503: {
    name: 'ServiceUnavailable',
    description:
      'Postgres, Redis, Temporal or a matching shard briefly unreachable, or the instance is draining: retry after Retry-After seconds. `calendar_unavailable`: the trading calendar has no data for now (placing, replacing to DAY, the market clock) until an operator extends it. `saga_missing` (a replace or cancel; in cancel-all, a `failed` code): the order is open but its saga is gone (Temporal lost it); nothing changed, operators are recovering it: contact support if it persists',
    code: 'service_unavailable',
    detail: 'A service BrokerX depends on is briefly unavailable; retry shortly',
    headers: ['Retry-After'],
  },
  504: {
    name: 'Timeout',
    description:
      'The order saga did not answer in time; the order may still be placed, replaced or cancelled (query it)',
    code: 'timeout',
    detail: 'The order saga did not answer in time; query the order later',
  },
};

/** Response headers of the API, registered once as components and referenced by name. */
export const RESPONSE_HEADERS = {
  'X-Request-Id': {
    description:
      'The request id (yours when sent as a valid X-Request-Id, else a generated UUID); logged with every line of the request',
    schema: { type: 'string', example: '6f1c2a4e-8d2b-4f53-9a51-3c2f0f7f1b9e' },
  },
  'X-Instance': {
    description: 'The api instance that answered (INSTANCE_ID)',
    schema: { type: 'string', example: 'api-1' },
  },
  'Retry-After': {
    description: 'Seconds to wait before retrying',
    schema: { type: 'integer', minimum: 0, example: 5 },
  },
  'WWW-Authenticate': {
    description:
      'The bearer challenge (RFC 6750); error="invalid_token" when a token was sent but is not valid',
    schema: { type: 'string', example: 'Bearer realm="brokerx", error="invalid_token"' },
  },
  'Idempotent-Replayed': {
    description: 'true when this is the stored answer to an earlier request with the same Idempotency-Key',
    schema: { type: 'string', enum: ['true'], example: 'true' },
  },
  'Content-Disposition': {
    description: 'The file name to save this answer as',
    schema: { type: 'string', example: 'attachment; filename="statement-2026-02-01-2026-03-02.csv"' },
  },
  Link: {
    description: 'The next page of this listing (RFC 8288, rel="next"); absent on the last page',
    schema: {
      type: 'string',
      example: '</api/v1/statement?limit=500&cursor=MTc2OTkwNDAwMDAwMHwxNzcy>; rel="next"',
    },
  },
  'Cache-Control': {
    description: 'Caching of this answer (no-store for anything private)',
    schema: { type: 'string', example: 'no-store' },
  },
} as const;
export type ResponseHeader = keyof typeof RESPONSE_HEADERS;
const headerRefs = (names: readonly string[]) =>
  Object.fromEntries(names.map((n) => [n, { $ref: `#/components/headers/${n}` }]));
/** Headers on every response. */
const EVERY_RESPONSE: ResponseHeader[] = ['X-Request-Id', 'X-Instance'];

type RequestConfig = NonNullable<RouteConfig['request']>;
type Media = Exclude<NonNullable<NonNullable<RequestConfig['body']>['content'][string]>, { $ref: string }>;
/**
 * A JSON body: its schema with an example, or with named examples when one shape has several cases
 * (a limit and a stop order, say); each is checked against the schema by the OpenAPI lint.
 */
type Content = Record<
  string,
  Omit<Media, 'example' | 'examples'> &
    (
      | { example: unknown; examples?: never }
      | { example?: never; examples: Record<string, { summary: string; value: unknown }> }
    )
>;
type Reply = Omit<Exclude<RouteConfig['responses'][string], { $ref: string }>, 'headers' | 'content'> & {
  description: string;
  content: Content;
  /** Headers of this answer beyond those on every response (X-Request-Id, X-Instance). */
  sends?: readonly ResponseHeader[];
};

export type ApiRouteConfig = Omit<
  RouteConfig,
  'tags' | 'security' | 'operationId' | 'responses' | 'request'
> & {
  operationId: string;
  tag: Tag;
  summary: string;
  /** bearer: an access token is required; optional: used when sent (both add 401); public: `security: []`. */
  auth: 'bearer' | 'optional' | 'public';
  request?: Omit<RequestConfig, 'body'> & {
    body?: Omit<NonNullable<RequestConfig['body']>, 'content'> & { content: Content };
  };
  /** The success answers (2xx), and any error answer whose body is not a problem (/ready's 503). */
  responses: Record<number, Reply>;
  /** The problem statuses the handler and its middleware answer beyond those added for every route. */
  errors: readonly ErrorStatus[];
  /** Answers without Postgres, Redis or Temporal: no 503 (unless declared in `errors`). */
  offline?: boolean;
};

/** The problem statuses of an operation: its own and the ones its shape implies. */
export function errorStatuses(route: ApiRouteConfig): ErrorStatus[] {
  const implied: ErrorStatus[] = [
    400,
    422,
    ...(route.method === 'get' ? [] : ([413] as const)),
    ...(route.request?.body ? ([415] as const) : []),
    ...(route.auth === 'public' ? [] : ([401] as const)),
    ...(route.offline ? [] : ([503] as const)),
    500,
  ];
  return [...new Set([...route.errors, ...implied])].sort((a, b) => a - b);
}

function without<T extends object, K extends keyof T>(o: T, key: K): Omit<T, K> {
  const { [key]: _dropped, ...rest } = o;
  return rest;
}

export function apiRoute<P extends string, const R extends ApiRouteConfig & { path: P }>(route: R) {
  const { operationId, tag, auth, errors: _errors, offline: _offline, responses, ...rest } = route;
  const own = Object.fromEntries(
    Object.entries(responses).map(([status, reply]) => [
      status,
      { ...without(reply, 'sends'), headers: headerRefs([...EVERY_RESPONSE, ...(reply.sends ?? [])]) },
    ]),
  );
  const problems = Object.fromEntries(
    errorStatuses(route)
      .filter((s) => !(s in responses))
      .map((s) => [s, { $ref: `#/components/responses/${PROBLEM_RESPONSES[s].name}` }]),
  );
  return createRoute({
    ...rest,
    operationId,
    tags: [tag],
    security: { bearer: [{ bearer: [] }], optional: [{ bearer: [] }, {}], public: [] }[auth],
    responses: { ...own, ...problems },
  }) as unknown as ReturnType<typeof createRoute<P, R>>;
}

/** The shared parts of the document: security scheme, headers, problem responses, tags. */
export function registerComponents(registry: OpenAPIHono<AppEnv>['openAPIRegistry']): void {
  registry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description: 'The access_token of /api/v1/auth/verify_mfa or /api/v1/auth/refresh',
  });
  for (const [name, header] of Object.entries(RESPONSE_HEADERS))
    registry.registerComponent(
      'headers',
      name,
      header as Parameters<typeof registry.registerComponent<'headers'>>[2],
    );
  registry.register('Problem', ProblemSchema);
  for (const [status, p] of Object.entries(PROBLEM_RESPONSES)) {
    const example = {
      ...problemBody(p.code, p.detail, p.errors),
      instance: '/api/v1/orders',
      request_id: RESPONSE_HEADERS['X-Request-Id'].schema.example,
    };
    registry.registerComponent('responses', p.name, {
      description: p.description,
      headers: headerRefs([...EVERY_RESPONSE, ...(p.headers ?? [])]),
      content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' }, example } },
    });
    void status;
  }
}
