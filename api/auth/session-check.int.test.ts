/**
 * The session check shared by the api instances (api/auth/sessions.ts), against two real api instances on
 * one Postgres and one Redis: a "live" answer from Postgres is kept in Redis for at most
 * SESSION_CHECK_CACHE_MS and answers every instance; a revocation's mark outweighs it; once it is gone, the
 * next request asks Postgres again.
 */
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApi, type TestApi } from '../../test/helpers.js';
import { expectProblem } from '../../test/http.js';
import { loginWithEmailCode, registerVerifiedUser, type TestUser } from '../../test/users.js';
import { SESSION_CHECK_CACHE_MS } from './sessions.js';

let a: TestApi;
let b: TestApi;
beforeAll(async () => {
  [a, b] = await Promise.all([createTestApi(), createTestApi()]);
});
afterAll(async () => {
  await Promise.all([a?.close(), b?.close()]);
});

const sidOf = (token: string) => decodeJwt(token).sid as string;
const liveKey = (token: string) => `${a.deps.config.REDIS_PREFIX}auth:live-session:${sidOf(token)}`;
const portfolio = (api: TestApi, token: string) => api.call('GET', '/api/v1/portfolio', { token });
/** A revocation made in Postgres alone: no mark in Redis, no event. */
const revokeInDatabase = (token: string) =>
  a.deps.database.sql`UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = ${sidOf(token)}`;

describe('the session check, shared by the api instances', () => {
  let user: TestUser;
  beforeAll(async () => {
    user = await registerVerifiedUser(a);
  });

  it("keeps Postgres' live answer in Redis, with the role, for at most SESSION_CHECK_CACHE_MS", async () => {
    const { token } = await loginWithEmailCode(a, user.email, user.password);
    expect((await portfolio(a, token)).status).toBe(200);
    expect(await a.deps.redis.get(liveKey(token))).toBe('client');
    const ttl = await a.deps.redis.pttl(liveKey(token));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(SESSION_CHECK_CACHE_MS);
  });

  it('another instance answers from it without asking Postgres, and asks again once it is gone', async () => {
    const { token } = await loginWithEmailCode(a, user.email, user.password);
    expect((await portfolio(a, token)).status).toBe(200);
    // Held past any test's pace, so that what follows does not race its expiry.
    await a.deps.redis.pexpire(liveKey(token), 60_000);
    await revokeInDatabase(token);
    // Postgres says revoked, the answer kept in Redis says live: instance b did not ask Postgres.
    expect((await portfolio(b, token)).status).toBe(200);
    await a.deps.redis.del(liveKey(token)); // as when it expires
    await expectProblem(await portfolio(b, token), 401, 'unauthorized');
    await expectProblem(await portfolio(a, token), 401, 'unauthorized');
    expect(await a.deps.redis.exists(liveKey(token))).toBe(0); // a dead session's answer is not kept
  });

  it("a revocation's mark outweighs a kept live answer on every instance at once", async () => {
    const { token } = await loginWithEmailCode(a, user.email, user.password);
    expect((await portfolio(b, token)).status).toBe(200);
    await a.deps.redis.pexpire(liveKey(token), 60_000);
    expect((await a.call('POST', '/api/v1/auth/logout', { token })).status).toBeLessThan(300);
    await expectProblem(await portfolio(b, token), 401, 'unauthorized');
    await expectProblem(await portfolio(a, token), 401, 'unauthorized');
  });
});
