import { eq } from 'drizzle-orm';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { generate } from 'otplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refreshTokens, users } from '../../db/schema.js';
import { authServices } from '../auth/services.js';
import { createTestApi, mailCount, uniqueEmail, waitForMail, type TestApi } from '../../test/helpers.js';
import {
  loginCode,
  loginWithEmailCode,
  reauthenticate,
  registerVerifiedUser,
  TEST_PASSWORD,
  verificationToken,
  type TestUser,
} from '../../test/users.js';

type Json = Record<string, unknown>;

async function problemOf(res: Response, status: number, code: string): Promise<Json> {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toContain('application/problem+json');
  const body = (await res.json()) as Json;
  expect(body).toMatchObject({ success: false, status, code });
  return body;
}

describe('login, MFA and sessions', () => {
  let api: TestApi;
  let offsetMs = 0;
  const now = () => new Date(Date.now() + offsetMs);
  const login = (email: string, password = TEST_PASSWORD, headers?: Record<string, string>) =>
    api.call('POST', '/api/v1/auth/login', { body: { email, password }, headers });
  const verifyMfa = (email: string, code: string | number, headers?: Record<string, string>) =>
    api.call('POST', '/api/v1/auth/verify_mfa', { body: { email, code }, headers });
  const portfolio = (token: string) => api.call('GET', '/api/v1/portfolio', { token });
  /** Login, then the emailed code. */
  const loginForCode = async (email: string) => {
    const after = Date.now() - 1000;
    expect((await login(email)).status).toBe(200);
    return loginCode(email, after);
  };

  beforeAll(async () => (api = await createTestApi({}, now)));
  afterAll(() => api.close());

  describe('login', () => {
    let user: TestUser;
    beforeAll(async () => (user = await registerVerifiedUser(api)));

    it('asks for MFA after a correct password and hands out no token', async () => {
      const after = Date.now() - 1000;
      const res = await login(user.email);
      expect(res.status).toBe(200);
      const body = (await res.json()) as Json;
      expect(body).toMatchObject({ success: true, mfa_required: true, mfa_method: 'email' });
      expect(JSON.stringify(body)).not.toMatch(/token|eyJ/);
      expect(await loginCode(user.email, after)).toMatch(/^\d{6}$/);
    });

    it('accepts the email address in any case', async () => {
      expect((await login(user.email.toUpperCase())).status).toBe(200);
    });

    it('answers a wrong password and an unknown user the same 401', async () => {
      const wrong = await problemOf(await login(user.email, 'wrong-password-123'), 401, 'unauthorized');
      const unknown = await problemOf(
        await login(uniqueEmail('ghost'), 'wrong-password-123'),
        401,
        'unauthorized',
      );
      expect(unknown.detail).toBe(wrong.detail);
      expect(unknown.title).toBe(wrong.title);
    });

    it('refuses an unverified user with the right password (403), without sending a code', async () => {
      const email = uniqueEmail('pending');
      await api.call('POST', '/api/v1/clients/register', {
        body: { client: { email, password: TEST_PASSWORD, first_name: 'P', last_name: 'Q' } },
      });
      await verificationToken(email);
      await problemOf(await login(email), 403, 'forbidden');
      await problemOf(await login(email, 'not-the-password'), 401, 'unauthorized');
      await api.mailsSent();
      expect(await mailCount(email, /login code/i)).toBe(0);
    });

    it.each([
      ['malformed JSON', { raw: '{"email":', headers: { 'content-type': 'application/json' } }, 400],
      ['missing password', { body: { email: 'a@b.test' } }, 422],
      ['extra field', { body: { email: 'a@b.test', password: 'x', admin: true } }, 422],
      ['wrong types', { body: { email: 42, password: ['x'] } }, 422],
      ['array body', { body: [] }, 400],
      ['huge body', { body: { email: 'a@b.test', password: 'x'.repeat(100_000) } }, 413],
    ] as const)('rejects %s', async (_name, opts, status) => {
      const res = await api.call('POST', '/api/v1/auth/login', opts);
      expect(res.status).toBe(status);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
    });
  });

  describe('verify_mfa', () => {
    it('exchanges the emailed code for a signed access token and a refresh token', async () => {
      const user = await registerVerifiedUser(api);
      const code = await loginForCode(user.email);
      const res = await verifyMfa(user.email, code);
      expect(res.status).toBe(200);
      const body = (await res.json()) as Json;
      expect(body).toMatchObject({
        success: true,
        token_type: 'Bearer',
        user_id: user.userId,
        account_id: user.accountId,
        email: user.email,
      });
      expect(body.access_token).toBe(body.token);
      const token = body.token as string;
      const header = decodeProtectedHeader(token);
      expect(header).toMatchObject({ alg: 'EdDSA', typ: 'at+jwt' });
      expect(header.kid).toMatch(/^[A-Za-z0-9_-]{43}$/); // RFC 7638 thumbprint
      const claims = decodeJwt(token);
      expect(claims).toMatchObject({
        iss: 'brokerx',
        aud: 'brokerx.web',
        sub: user.userId,
        account_id: user.accountId,
        email: user.email,
      });
      expect(claims.exp! - claims.iat!).toBe(api.deps.config.ACCESS_TOKEN_TTL_SECONDS);
      expect((await portfolio(token)).status).toBe(200);
    });

    it('accepts a code once: a replay after a new login is 401', async () => {
      const user = await registerVerifiedUser(api);
      const code = await loginForCode(user.email);
      expect((await verifyMfa(user.email, code)).status).toBe(200);
      await problemOf(await verifyMfa(user.email, code), 401, 'unauthorized'); // challenge consumed
      const second = await loginForCode(user.email);
      expect(second).not.toBe(code); // same 30 s step already used: the next step's code is mailed
      await problemOf(await verifyMfa(user.email, code), 401, 'unauthorized');
      expect((await verifyMfa(user.email, second)).status).toBe(200);
    });

    it('lets exactly one of two racing requests with the same code through', async () => {
      const user = await registerVerifiedUser(api);
      const code = await loginForCode(user.email);
      // Five racers: within the per-account attempt limit, so the losers are 401s, not 429s.
      const results = await Promise.all(Array.from({ length: 5 }, () => verifyMfa(user.email, code)));
      expect(results.map((r) => r.status).sort()).toEqual([200, 401, 401, 401, 401]);
      const families = await api.deps.database.db
        .select()
        .from(refreshTokens)
        .where(eq(refreshTokens.userId, user.userId));
      expect(new Set(families.map((f) => f.familyId)).size).toBe(2); // registerVerifiedUser's session + this one
    });

    it('refuses an old code: one from a previous login, and one past its 10 minutes', async () => {
      const user = await registerVerifiedUser(api);
      const stale = await loginForCode(user.email);
      offsetMs = 60_000;
      try {
        const fresh = await loginForCode(user.email);
        expect(fresh).not.toBe(stale);
        await problemOf(await verifyMfa(user.email, stale), 401, 'unauthorized');
        offsetMs = 60_000 + 11 * 60_000;
        await problemOf(await verifyMfa(user.email, fresh), 401, 'unauthorized');
      } finally {
        offsetMs = 0;
      }
    });

    it('refuses codes without a password step first, for unknown users, and malformed codes', async () => {
      const user = await registerVerifiedUser(api);
      await problemOf(await verifyMfa(user.email, '123456'), 401, 'unauthorized');
      await problemOf(await verifyMfa(uniqueEmail('ghost'), '123456'), 401, 'unauthorized');
      await loginForCode(user.email);
      await problemOf(await verifyMfa(user.email, '12345'), 422, 'validation_failed');
      await problemOf(await verifyMfa(user.email, 'abcdef'), 422, 'validation_failed');
      await problemOf(
        await api.call('POST', '/api/v1/auth/verify_mfa', { body: { email: user.email } }),
        422,
        'validation_failed',
      );
      await problemOf(
        await api.call('POST', '/api/v1/auth/verify_mfa', {
          body: { email: user.email, code: '123456', token: 'x' },
        }),
        422,
        'validation_failed',
      );
    });

    it('stops brute force: 429 with Retry-After after 5 wrong codes, even for the right code', async () => {
      const user = await registerVerifiedUser(api);
      const code = await loginForCode(user.email);
      const wrong = code === '000000' ? '000001' : '000000';
      for (let i = 0; i < 5; i++) await problemOf(await verifyMfa(user.email, wrong), 401, 'unauthorized');
      const blocked = await problemOf(await verifyMfa(user.email, wrong), 429, 'too_many_requests');
      expect(blocked.retry_after).toEqual(expect.any(Number));
      const res = await verifyMfa(user.email, code);
      expect(res.status).toBe(429);
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(Number(res.headers.get('retry-after'))).toBeLessThanOrEqual(900);
    });
  });

  describe('password brute force', () => {
    it('blocks one address after 10 attempts on an account, without locking the owner out elsewhere', async () => {
      const proxied = await createTestApi({ TRUSTED_PROXY_HOPS: '1' }, now);
      try {
        const user = await registerVerifiedUser(proxied);
        const attacker = { 'x-forwarded-for': '203.0.113.66' };
        for (let i = 0; i < 10; i++) {
          const res = await proxied.call('POST', '/api/v1/auth/login', {
            body: { email: user.email, password: `guess-${i}-xxxx` },
            headers: attacker,
          });
          expect(res.status).toBe(401);
        }
        const blocked = await proxied.call('POST', '/api/v1/auth/login', {
          body: { email: user.email, password: TEST_PASSWORD },
          headers: attacker,
        });
        await problemOf(blocked, 429, 'too_many_requests');
        expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
        // The owner, from another address, still logs in.
        const owner = await proxied.call('POST', '/api/v1/auth/login', {
          body: { email: user.email, password: TEST_PASSWORD },
          headers: { 'x-forwarded-for': '192.0.2.10' },
        });
        expect(owner.status).toBe(200);
      } finally {
        await proxied.close();
      }
    });

    it('limits unknown accounts exactly like known ones (no oracle)', async () => {
      const ghost = uniqueEmail('ghost');
      const statuses: number[] = [];
      for (let i = 0; i < 11; i++) statuses.push((await login(ghost, 'whatever-123')).status);
      expect(statuses).toEqual([...Array<number>(10).fill(401), 429]);
    });
  });

  describe('authenticator app enrollment', () => {
    it('enrolls with an otpauth URI and a QR code, activates on a first valid code, then logs in with app codes only', async () => {
      const user = await registerVerifiedUser(api);
      await problemOf(await api.call('POST', '/api/v1/auth/mfa/totp/setup'), 401, 'unauthorized');
      // An access token alone cannot change the second factor: a recent password check is needed.
      await problemOf(
        await api.call('POST', '/api/v1/auth/mfa/totp/setup', { token: user.token }),
        403,
        'forbidden',
      );
      await reauthenticate(api, user);
      const setup = await api.call('POST', '/api/v1/auth/mfa/totp/setup', { token: user.token });
      expect(setup.status).toBe(200);
      const body = (await setup.json()) as { otpauth_uri: string; secret: string; qr_code: string };
      expect(body.otpauth_uri).toMatch(/^otpauth:\/\/totp\/BrokerX:.+\?secret=[A-Z2-7]+&issuer=BrokerX$/);
      expect(body.qr_code).toMatch(/^data:image\/png;base64,/);
      const secret = new URL(body.otpauth_uri).searchParams.get('secret')!;
      expect(secret).toBe(body.secret);

      // Not active until a first valid code.
      const [pending] = await api.deps.database.db.select().from(users).where(eq(users.id, user.userId));
      expect(pending!.totpEnrolledAt).toBeNull();
      await problemOf(
        await api.call('POST', '/api/v1/auth/mfa/totp/activate', {
          token: user.token,
          body: { code: '000000' === (await generate({ secret })) ? '111111' : '000000' },
        }),
        422,
        'validation_failed',
      );
      const t0 = Math.floor(now().getTime() / 1000);
      const activation = await api.call('POST', '/api/v1/auth/mfa/totp/activate', {
        token: user.token,
        body: { code: await generate({ secret, epoch: t0 }) },
      });
      expect(activation.status).toBe(200);
      const { recovery_codes: codes } = (await activation.json()) as { recovery_codes: string[] };
      expect(codes).toHaveLength(10);
      expect(new Set(codes).size).toBe(10);
      await waitForMail(user.email, { subject: /second factor/i });

      offsetMs = 60_000; // two steps later: the activation code's step is spent
      try {
        const mailsBefore = await mailCount(user.email, /login code/i);
        const res = await login(user.email);
        expect(((await res.json()) as Json).mfa_method).toBe('totp');
        const appCode = await generate({ secret, epoch: Math.floor(now().getTime() / 1000) });
        const ok = await verifyMfa(user.email, appCode);
        expect(ok.status).toBe(200);
        await api.mailsSent();
        expect(await mailCount(user.email, /login code/i)).toBe(mailsBefore); // no code by mail any more

        // Replay of the app code, and a code from 5 minutes ago: 401.
        await login(user.email);
        await problemOf(await verifyMfa(user.email, appCode), 401, 'unauthorized');
        const old = await generate({ secret, epoch: Math.floor(now().getTime() / 1000) - 300 });
        if (old !== appCode) await problemOf(await verifyMfa(user.email, old), 401, 'unauthorized');
      } finally {
        offsetMs = 0;
      }
    });

    it('refuses activation without a started enrollment', async () => {
      const user = await registerVerifiedUser(api);
      await reauthenticate(api, user);
      await problemOf(
        await api.call('POST', '/api/v1/auth/mfa/totp/activate', {
          token: user.token,
          body: { code: '123456' },
        }),
        409,
        'conflict',
      );
    });
  });

  describe('refresh and logout', () => {
    const refresh = (refreshToken: string) =>
      api.call('POST', '/api/v1/auth/refresh', { body: { refresh_token: refreshToken } });

    it('rotates the refresh token and detects reuse by revoking the whole session', async () => {
      const user = await registerVerifiedUser(api);
      const first = await refresh(user.refreshToken);
      expect(first.status).toBe(200);
      const r1 = (await first.json()) as { token: string; refresh_token: string };
      expect(r1.refresh_token).not.toBe(user.refreshToken);
      expect((await portfolio(r1.token)).status).toBe(200);

      // The old refresh token again: reuse. The session is revoked: its newest refresh and access tokens die too.
      await problemOf(await refresh(user.refreshToken), 401, 'unauthorized');
      await problemOf(await refresh(r1.refresh_token), 401, 'unauthorized');
      await problemOf(await portfolio(r1.token), 401, 'unauthorized');
      await problemOf(await portfolio(user.token), 401, 'unauthorized');

      // Another session of the same user is unaffected.
      const other = await loginWithEmailCode(api, user.email);
      expect((await portfolio(other.token)).status).toBe(200);
    });

    it('lets exactly one of two racing refreshes with one token win (the other is a reuse)', async () => {
      const user = await registerVerifiedUser(api);
      const results = await Promise.all([refresh(user.refreshToken), refresh(user.refreshToken)]);
      expect(results.map((r) => r.status).sort()).toEqual([200, 401]);
    });

    it('refuses expired, unknown and malformed refresh tokens', async () => {
      const user = await registerVerifiedUser(api);
      await problemOf(await refresh('x'.repeat(43)), 401, 'unauthorized');
      await problemOf(await api.call('POST', '/api/v1/auth/refresh', { body: {} }), 422, 'validation_failed');
      await problemOf(
        await api.call('POST', '/api/v1/auth/refresh', { body: { refresh_token: 42 } }),
        422,
        'validation_failed',
      );
      offsetMs = (api.deps.config.REFRESH_TOKEN_TTL_SECONDS + 60) * 1000;
      try {
        await problemOf(await refresh(user.refreshToken), 401, 'unauthorized');
      } finally {
        offsetMs = 0;
      }
    });

    it('ends a session whose refresh token went unused for the idle timeout; use keeps it alive', async () => {
      const idle = api.deps.config.REFRESH_IDLE_TIMEOUT_SECONDS;
      expect(idle).toBe(30 * 60);
      const user = await registerVerifiedUser(api);
      let current = user.refreshToken;
      try {
        // Used just inside the idle timeout, twice: the session outlives the timeout.
        for (const at of [idle - 60, 2 * (idle - 60)]) {
          offsetMs = at * 1000;
          const res = await refresh(current);
          expect(res.status).toBe(200);
          current = ((await res.json()) as { refresh_token: string }).refresh_token;
        }
        // Then unused for longer than the timeout: refused and the session revoked.
        offsetMs = (2 * (idle - 60) + idle + 1) * 1000;
        const timedOut = await problemOf(await refresh(current), 401, 'unauthorized');
        expect(timedOut.detail).toMatch(/inactivity/);
      } finally {
        offsetMs = 0;
      }
      const family = await api.deps.database.db
        .select({ revokedAt: refreshTokens.revokedAt })
        .from(refreshTokens)
        .where(eq(refreshTokens.userId, user.userId));
      expect(family.length).toBe(3);
      expect(family.every((t) => t.revokedAt !== null)).toBe(true);
      await problemOf(await refresh(current), 401, 'unauthorized');
    });

    it('logs out: the refresh token and the access token stop working', async () => {
      const user = await registerVerifiedUser(api);
      const res = await api.call('POST', '/api/v1/auth/logout', {
        token: user.token,
        body: { refresh_token: user.refreshToken },
      });
      expect(res.status).toBe(200);
      await problemOf(await refresh(user.refreshToken), 401, 'unauthorized');
      await problemOf(await portfolio(user.token), 401, 'unauthorized');
      await problemOf(await api.call('POST', '/api/v1/auth/logout', {}), 400, 'bad_request');
    });

    it('logs out with the refresh token alone', async () => {
      const user = await registerVerifiedUser(api);
      expect(
        (await api.call('POST', '/api/v1/auth/logout', { body: { refresh_token: user.refreshToken } }))
          .status,
      ).toBe(200);
      await problemOf(await portfolio(user.token), 401, 'unauthorized');
    });

    it('logs out with the refresh token when the bearer token sent with it is expired or bogus', async () => {
      const logout = (token: string, refreshToken?: string) =>
        api.call('POST', '/api/v1/auth/logout', {
          token,
          body: refreshToken === undefined ? {} : { refresh_token: refreshToken },
        });
      const bogus = await registerVerifiedUser(api);
      expect((await logout('not-a-token', bogus.refreshToken)).status).toBe(200);
      await problemOf(await refresh(bogus.refreshToken), 401, 'unauthorized');

      const expired = await registerVerifiedUser(api);
      offsetMs = (api.deps.config.ACCESS_TOKEN_TTL_SECONDS + 60) * 1000;
      try {
        await problemOf(await portfolio(expired.token), 401, 'unauthorized');
        expect((await logout(expired.token, expired.refreshToken)).status).toBe(200);
        await problemOf(await refresh(expired.refreshToken), 401, 'unauthorized');
      } finally {
        offsetMs = 0;
      }
      // Without a refresh token, a bearer token that does not verify is still refused.
      await problemOf(await logout('not-a-token'), 401, 'unauthorized');
    });
  });

  describe('signing keys', () => {
    it('publishes the public keys (no private parts) at /.well-known/jwks.json', async () => {
      const user = await registerVerifiedUser(api);
      const res = await api.call('GET', '/.well-known/jwks.json');
      expect(res.status).toBe(200);
      const { keys } = (await res.json()) as { keys: Json[] };
      const kid = decodeProtectedHeader(user.token).kid;
      expect(keys.find((k) => k.kid === kid)).toMatchObject({
        kty: 'OKP',
        crv: 'Ed25519',
        alg: 'EdDSA',
        use: 'sig',
      });
      for (const k of keys) expect(k).not.toHaveProperty('d');
    });

    it('rotates without logging anyone out; the old key stays published until its tokens expire', async () => {
      const user = await registerVerifiedUser(api);
      const oldKid = decodeProtectedHeader(user.token).kid;
      const newKid = await authServices(api.deps).keys.rotate();
      expect(newKid).not.toBe(oldKid);

      expect((await portfolio(user.token)).status).toBe(200); // old token still verifies
      const fresh = await loginWithEmailCode(api, user.email);
      expect(decodeProtectedHeader(fresh.token).kid).toBe(newKid);
      const kids = async () =>
        ((await (await api.call('GET', '/.well-known/jwks.json')).json()) as { keys: Json[] }).keys.map(
          (k) => k.kid,
        );
      expect(await kids()).toEqual(expect.arrayContaining([oldKid, newKid]));

      // Past the access-token lifetime plus the grace, the retired key is gone.
      offsetMs = (api.deps.config.ACCESS_TOKEN_TTL_SECONDS + 301) * 1000;
      try {
        const published = await kids();
        expect(published).toContain(newKid);
        expect(published).not.toContain(oldKid);
      } finally {
        offsetMs = 0;
      }
    });
  });
});
