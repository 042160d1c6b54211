/**
 * Authentication of feed sockets, with the same pieces as the REST api (api/auth/middleware.ts): the
 * bearer token is verified against BrokerX's signing keys and its session must not be revoked.
 */
import type { IncomingMessage } from 'node:http';
import { authServices } from '../auth/services.js';
import { bearerToken } from '../auth/middleware.js';
import type { VerifiedAccessToken } from '../auth/tokens.js';
import { ApiError } from '../problem.js';
import type { ApiDeps } from '../types.js';

/** Verifies an access token; throws ApiError (401 invalid/expired/revoked, 503 Redis down). */
export type Authenticate = (token: string) => Promise<VerifiedAccessToken>;

export function feedAuthenticator(deps: ApiDeps): Authenticate {
  const { sessions } = authServices(deps);
  return (token) => sessions.verify(token);
}

/** The subprotocol that announces a bearer token as the next offered subprotocol. */
export const BEARER_PROTOCOL = 'bearer';
const TOKEN_CHARS = /^[A-Za-z0-9\-_.~+/]+=*$/;

/**
 * The access token of an upgrade request, in order of preference:
 * - `Authorization: Bearer <token>` (non-browser clients);
 * - `Sec-WebSocket-Protocol: bearer, <token>` (browsers: `new WebSocket(url, ['bearer', token])`); the
 *   server answers with the subprotocol `bearer`, never with the token;
 * - deprecated: the `token` query parameter (URLs end up in proxy and access logs).
 * A malformed header is a 401.
 */
export function upgradeToken(req: IncomingMessage, url: URL): string | undefined {
  const header = bearerToken(req.headers.authorization);
  if (header) return header;
  const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
  const at = offered.indexOf(BEARER_PROTOCOL);
  if (at >= 0) {
    const token = offered[at + 1];
    if (!token || !TOKEN_CHARS.test(token)) throw new Error('malformed bearer subprotocol');
    return token;
  }
  const query = url.searchParams.get('token');
  return query ? query : undefined;
}

/** ALLOWED_ORIGINS as a set; `*` allows any. */
export function parseOrigins(list: string): Set<string> {
  return new Set(
    list
      .split(',')
      .map((o) => o.trim().replace(/\/+$/, '').toLowerCase())
      .filter((o) => o.length > 0),
  );
}

/** Browsers send Origin; other clients usually do not, and are judged by their token alone. */
export function originAllowed(origin: string | undefined, allowed: Set<string>): boolean {
  if (origin === undefined) return true;
  return allowed.has('*') || allowed.has(origin.trim().replace(/\/+$/, '').toLowerCase());
}

export const isApiError = (err: unknown): err is ApiError => err instanceof ApiError;

/** A 401: the token or its session is no good. Anything else (a 503, a bug) says nothing about it. */
export const isUnauthorized = (err: unknown): boolean => isApiError(err) && err.code === 'unauthorized';
