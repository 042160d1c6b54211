/**
 * `requireAuth(deps)`: the access-token gate of every protected route. Accepts only
 * `Authorization: Bearer <access JWT>`, verifies it (see tokens.ts) and that its session is not revoked,
 * then sets `principal` from the token's claims: the account always comes from the token, never the body.
 */
import { createMiddleware } from 'hono/factory';
import { ApiError } from '../problem.js';
import type { ApiDeps, AppEnv } from '../types.js';
import { authServices } from './services.js';
import { unauthorized } from './sessions.js';

const BEARER = /^Bearer[ ]+([A-Za-z0-9\-_.~+/]+=*)[ ]*$/i;

/** The bearer token of a request, undefined when absent; a malformed Authorization header is a 401. */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = BEARER.exec(header);
  if (!match?.[1]) throw unauthorized('The Authorization header must be "Bearer <token>"');
  return match[1];
}

export function requireAuth(deps: ApiDeps) {
  const { sessions } = authServices(deps);
  return createMiddleware<AppEnv>(async (c, next) => {
    // Already authenticated by a gate mounted on an enclosing path (several sub-apps share /api/v1/orders/*).
    if (c.get('principal')) return next();
    const token = bearerToken(c.req.header('authorization'));
    if (!token)
      throw new ApiError('unauthorized', 'A bearer access token is required', undefined, {
        'www-authenticate': 'Bearer realm="brokerx"',
      });
    const verified = await sessions.verify(token);
    c.set('principal', {
      userId: verified.userId,
      accountId: verified.accountId,
      email: verified.email,
      role: verified.role,
    });
    c.set('sessionId', verified.sessionId);
    // Every answer to an authenticated request is private to its caller: never stored by a cache.
    c.header('cache-control', 'no-store');
    await next();
  });
}

/**
 * `requireOperator(deps)`: the gate of every route under /api/v1/admin. An access token as for
 * requireAuth, whose role claim is operator; anyone else gets 403.
 */
export function requireOperator(deps: ApiDeps) {
  const auth = requireAuth(deps);
  return createMiddleware<AppEnv>(async (c, next) =>
    auth(c, async () => {
      if (c.get('principal').role !== 'operator')
        throw new ApiError('forbidden', 'This route is for operators');
      await next();
    }),
  );
}
