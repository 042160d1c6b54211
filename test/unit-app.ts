/**
 * The api for unit tests (`app.request`): `createApp` with dependencies that fail loudly when touched,
 * so a test that passes proves the answer came before any database, Redis, Temporal or mail I/O.
 *
 * The one thing allowed through is authentication, so that protected routes can be reached: the access
 * token is signed with an in-memory key, which the fake database hands to the key store (its only query),
 * the fake database answers the session check with "live", and the fake Redis answers the revocation
 * check with "not revoked, no recent live check" and keeps the live check (its only commands).
 */
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair } from 'jose';
import { createApp, type App } from '../api/app.js';
import { sealJwk } from '../api/auth/crypto.js';
import { JWT_ALG, signAccessToken } from '../api/auth/tokens.js';
import { createApiMetrics } from '../api/metrics.js';
import type { ApiDeps } from '../api/types.js';
import { refreshTokens, signingKeys } from '../db/schema.js';
import { loadConfig } from '../lib/config.js';
import { createLogger } from '../lib/logger.js';
import { callApp, type CallOptions } from './http.js';

export interface UnitApp {
  app: App;
  /** What a handler touched that it must not have (also thrown, so the request fails with a 500). */
  touched: string[];
  /** A valid access token for a fresh account. */
  token: string;
  /** The same, with the operator role claim (for the /api/v1/admin routes). */
  operatorToken: string;
  call(method: string, path: string, opts?: CallOptions): Promise<Response>;
}

/** `overrides`: an injected clock or trading calendar (both touch no I/O). */
export async function createUnitApp(
  overrides: Partial<Pick<ApiDeps, 'now' | 'calendar'>> = {},
): Promise<UnitApp> {
  const config = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent' });
  const touched: string[] = [];
  const forbidden = (what: string): never => {
    touched.push(what);
    throw new Error(`unit test app: ${what} was touched`);
  };
  /** Any property read is a touch, except those `allowed` answers. */
  const fake = <T>(name: string, allowed: Record<string, unknown> = {}): T =>
    new Proxy(allowed, {
      get: (target, prop) =>
        typeof prop !== 'string' || prop === 'then'
          ? undefined
          : prop in target
            ? target[prop]
            : forbidden(`${name}.${prop}`),
    }) as T;

  const now = overrides.now?.() ?? new Date(); // the tokens' issue time: valid at the injected clock
  const { publicKey, privateKey } = await generateKeyPair(JWT_ALG, { extractable: true });
  const kid = randomUUID();
  const keyRow = {
    kid,
    alg: JWT_ALG,
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg: JWT_ALG, use: 'sig' },
    privateJwk: sealJwk(config.SIGNING_KEY_SECRET, kid, {
      ...(await exportJWK(privateKey)),
      kid,
      alg: JWT_ALG,
    }),
    createdAt: now,
    retiredAt: null,
  };
  const keyQuery = { where: () => keyQuery, orderBy: async () => [keyRow] };
  // The session check of every authenticated request (liveSessionRole): the token's session is live, and
  // its user an operator (a token's role claim counts up to the user's role, so both tokens keep theirs).
  const sessionQuery = {
    innerJoin: () => sessionQuery,
    where: () => sessionQuery,
    limit: async () => [{ role: 'operator' }],
  };
  const db = fake('database.db', {
    select: () => ({
      from: (table: unknown) =>
        table === signingKeys
          ? keyQuery
          : table === refreshTokens
            ? sessionQuery
            : forbidden('database.db.select (not the signing keys or the session check)'),
    }),
  });

  const deps: ApiDeps = {
    config,
    database: fake('database', { db }),
    redis: fake('redis', { mget: async () => [null, null], set: async () => 'OK' }),
    temporal: fake('temporal'),
    mailer: fake('mailer'),
    logger: createLogger('silent'),
    metrics: createApiMetrics('unit'),
    now: () => new Date(),
    ...overrides,
  };
  const app = createApp(deps);
  const claims = {
    userId: randomUUID(),
    accountId: randomUUID(),
    email: 'unit@example.test',
    sessionId: randomUUID(),
    role: 'client' as const,
  };
  const { token } = await signAccessToken({ kid, privateKey }, claims, now, config.ACCESS_TOKEN_TTL_SECONDS);
  const operatorToken = (
    await signAccessToken(
      { kid, privateKey },
      { ...claims, role: 'operator' },
      now,
      config.ACCESS_TOKEN_TTL_SECONDS,
    )
  ).token;

  return {
    app,
    touched,
    token,
    operatorToken,
    call: (method, path, opts) => callApp(app, method, path, opts),
  };
}
