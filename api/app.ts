/**
 * `createApp(deps)`: the whole HTTP surface. Cross-cutting middleware here; each resource is a sub-app
 * factory in api/routes mounted with `app.route(...)`. One `onError` renders every failure as problem+json.
 */
import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { redactText, withLogContext } from '../lib/logger.js';
import { createAdmission, PLACE_ORDER_PATH, requestIdOf } from './admission.js';
import { corsHeaders } from './cors.js';
import { headerPolicies } from './headers.js';
import { inputGuard } from './input-guard.js';
import { methodNotAllowed, methodsByPath } from './methods.js';
import { ApiError, problem, type ProblemCode } from './problem.js';
import { createRouter, documentConfig, registerComponents, RESPONSE_HEADERS } from './openapi.js';
import { healthRoutes } from './routes/health.js';
import { docsRoutes } from './routes/docs.js';
import { webRoutes } from './routes/web.js';
import { mountRoutes } from './routes/index.js';
import { serviceUnavailable, unreachableDependency } from './unavailable.js';
import type { ApiDeps, AppEnv } from './types.js';
import { parseOrigins } from './ws/auth.js';

function fromHttpException(err: HTTPException): ApiError {
  const byStatus: Record<number, ProblemCode> = {
    400: 'bad_request',
    401: 'unauthorized',
    403: 'forbidden',
    404: 'not_found',
    413: 'payload_too_large',
    415: 'unsupported_media_type',
  };
  return new ApiError(byStatus[err.status] ?? 'bad_request', err.message || undefined);
}

export function createApp(deps: ApiDeps) {
  const { config, metrics } = deps;
  const app = createRouter();

  // The protections a gateway would add, for setups without one (compose's Kong profile adds its own).
  // One reading of ALLOWED_ORIGINS for CORS and the live feeds (api/ws/auth.ts): case and a trailing slash
  // do not matter. A page's script may read every response header the document names.
  app.use(
    '*',
    corsHeaders({
      origins: parseOrigins(config.ALLOWED_ORIGINS),
      allowMethods: ['GET', 'POST', 'PUT', 'DELETE', 'OPTIONS'],
      allowHeaders: ['Authorization', 'Content-Type', 'Idempotency-Key', 'X-Request-Id'],
      exposeHeaders: Object.keys(RESPONSE_HEADERS),
      maxAge: 600,
    }),
  );
  // Order placements beyond MAX_INFLIGHT_ORDERS are shed here, before anything costly (api/admission.ts).
  // (CORS comes first so that browsers can read the 429; preflights are answered there, unlogged.)
  const admission = createAdmission(deps);
  app.use(PLACE_ORDER_PATH, admission.gate);

  // Every line logged while a request runs carries its request_id (lib/logger.ts withLogContext).
  app.use('*', async (c, next) => {
    const started = performance.now();
    const requestId = requestIdOf(c.req.header('x-request-id'));
    c.set('requestId', requestId);
    await withLogContext({ request_id: requestId }, async () => {
      await next();
      // On the response's own headers: c.header() after the handler would rebuild the response.
      c.res.headers.set('X-Request-Id', requestId);
      c.res.headers.set('X-Instance', config.INSTANCE_ID);
      const route = c.req.routePath && c.req.routePath !== '/*' ? c.req.routePath : 'unmatched';
      const seconds = (performance.now() - started) / 1000;
      metrics.httpRequests.inc({ method: c.req.method, route, status: String(c.res.status) });
      metrics.httpDuration.observe({ method: c.req.method, route }, seconds);
      if (route !== '/health') {
        deps.logger.info('request', {
          method: c.req.method,
          path: c.req.path, // cut past MAX_TEXT_LENGTH and redacted by the logger (lib/logger.ts)
          route,
          status: c.res.status,
          ms: Math.round(seconds * 1000),
        });
      }
    });
  });

  // One header policy per kind of response (api/headers.ts): JSON API, the reference page, the trader's page.
  app.use('*', headerPolicies());

  // Bodies over BODY_LIMIT_BYTES: 413. hono's bodyLimit reads `c.req.raw.body`, which makes
  // @hono/node-server build a whole web Request and stream around every request; so the answer is taken
  // from the headers wherever hono's rule takes it from them (no body on GET and HEAD; a Content-Length
  // without Transfer-Encoding, which Node's parser holds the body to), and only other bodies are counted.
  const tooLarge = () => {
    throw new ApiError('payload_too_large', `Request body exceeds ${config.BODY_LIMIT_BYTES} bytes`);
  };
  const countedBodyLimit = bodyLimit({ maxSize: config.BODY_LIMIT_BYTES, onError: tooLarge });
  app.use('*', async (c: Context<AppEnv, string>, next) => {
    if (c.req.method === 'GET' || c.req.method === 'HEAD') return next();
    const length = c.req.header('content-length');
    if (length === undefined || c.req.header('transfer-encoding') !== undefined)
      return countedBodyLimit(c, next);
    return parseInt(length || '0', 10) > config.BODY_LIMIT_BYTES ? tooLarge() : next();
  });
  // NUL bytes, invalid UTF-8 and lone surrogates stop here, for every route (api/input-guard.ts).
  app.use('*', inputGuard());

  app.route('/', healthRoutes(deps));
  app.route('/', docsRoutes());
  app.route('/', webRoutes(deps));
  mountRoutes(app, deps, admission);

  // A known path with another method: 405 with Allow; an unknown path: 404. (Routes are read on the first
  // miss, when every sub-app is mounted.) The detail names the path as the logger would write it: past
  // MAX_TEXT_LENGTH, cut and marked.
  let allowedAt: ((path: string) => string[]) | undefined;
  app.notFound((c) => {
    allowedAt ??= methodsByPath(app.routes);
    const allowed = allowedAt(c.req.path);
    const path = redactText(c.req.path);
    return problem(
      c,
      allowed.length
        ? methodNotAllowed(c.req.method, path, allowed)
        : new ApiError('not_found', `No route for ${c.req.method} ${path}`),
    );
  });

  app.onError((err, c) => {
    if (err instanceof ApiError) return problem(c, err);
    if (err instanceof HTTPException) return problem(c, fromHttpException(err));
    // Temporal, Postgres or Redis unreachable: 503 with Retry-After (api/unavailable.ts), not a 500.
    const dependency = unreachableDependency(err);
    if (dependency) {
      deps.logger.warn('dependency unavailable', { dependency, err, path: c.req.path });
      return problem(c, serviceUnavailable(dependency));
    }
    deps.logger.error('unhandled error', { err, path: c.req.path });
    return problem(c, new ApiError('internal_error', 'An unexpected error occurred'));
  });

  app.doc31('/openapi.json', documentConfig(config));
  registerComponents(app.openAPIRegistry);

  return app;
}
export type App = ReturnType<typeof createApp>;
