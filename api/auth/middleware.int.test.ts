/**
 * Attacks on the access token, against a protected route of the real app: each must be a 401
 * problem+json with a WWW-Authenticate header, and must not reach the handler.
 */
import { randomUUID } from 'node:crypto';
import { SignJWT, base64url, decodeJwt, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApi, type TestApi } from '../../test/helpers.js';
import { registerVerifiedUser, type TestUser } from '../../test/users.js';
import { authServices } from './services.js';

const enc = (value: object) => base64url.encode(JSON.stringify(value));

describe('requireAuth against forged and misused tokens', () => {
  let api: TestApi;
  let user: TestUser;
  let kid: string;
  let privateKey: CryptoKey;
  let publicJwk: Record<string, unknown>;
  let offsetMs = 0;

  // The user's own live session: every accepted token is also checked against its session (trust).
  const claims = () => ({ account_id: user.accountId, email: user.email, sid: decodeJwt(user.token).sid });
  /** A token signed with the real key; `edit` changes header or claims. */
  const signed = async (edit: (jwt: SignJWT) => SignJWT = (j) => j, header: Record<string, unknown> = {}) => {
    const iat = Math.floor(Date.now() / 1000);
    const jwt = new SignJWT(claims())
      .setProtectedHeader({ alg: 'EdDSA', kid, typ: 'at+jwt', ...header })
      .setIssuer('brokerx')
      .setAudience('brokerx.web')
      .setSubject(user.userId)
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(iat + 600)
      .setJti(randomUUID());
    return edit(jwt).sign(privateKey);
  };
  const portfolio = (headers: Record<string, string>) => api.call('GET', '/api/v1/portfolio', { headers });
  const expect401 = async (token: string) => {
    const res = await portfolio({ authorization: `Bearer ${token}` });
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(await res.json()).toMatchObject({ success: false, code: 'unauthorized', status: 401 });
  };

  beforeAll(async () => {
    api = await createTestApi({}, () => new Date(Date.now() + offsetMs));
    user = await registerVerifiedUser(api);
    const keys = authServices(api.deps).keys;
    ({ kid, privateKey } = await keys.signingKey());
    publicJwk = (await keys.jwks()).find((k) => k.kid === kid) as Record<string, unknown>;
  });
  afterAll(() => api.close());

  it('accepts a well-formed token signed with the real key (control)', async () => {
    expect((await portfolio({ authorization: `Bearer ${await signed()}` })).status).toBe(200);
    expect((await portfolio({ authorization: `Bearer ${user.token}` })).status).toBe(200);
  });

  it('refuses a missing or malformed Authorization header', async () => {
    for (const headers of [
      {} as Record<string, string>,
      { authorization: 'Basic dXNlcjpwYXNz' },
      { authorization: 'Bearer' },
      { authorization: `Token ${user.token}` },
      { authorization: 'Bearer a b' },
    ]) {
      const res = await portfolio(headers);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    }
  });

  it('refuses alg "none"', async () => {
    const iat = Math.floor(Date.now() / 1000);
    const payload = {
      ...claims(),
      iss: 'brokerx',
      aud: 'brokerx.web',
      sub: user.userId,
      iat,
      nbf: iat,
      exp: iat + 600,
      jti: randomUUID(),
    };
    await expect401(`${enc({ alg: 'none', typ: 'at+jwt', kid })}.${enc(payload)}.`);
    await expect401(`${enc({ alg: 'none', typ: 'at+jwt', kid })}.${enc(payload)}`);
    // A real signature with the header swapped for alg none.
    const [, body, sig] = (await signed()).split('.');
    await expect401(`${enc({ alg: 'none', typ: 'at+jwt', kid })}.${body}.${sig}`);
  });

  it('refuses a token signed by another key under our kid', async () => {
    const other = await generateKeyPair('EdDSA');
    const iat = Math.floor(Date.now() / 1000);
    const forged = await new SignJWT(claims())
      .setProtectedHeader({ alg: 'EdDSA', kid, typ: 'at+jwt' })
      .setIssuer('brokerx')
      .setAudience('brokerx.web')
      .setSubject(user.userId)
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(iat + 600)
      .setJti(randomUUID())
      .sign(other.privateKey);
    await expect401(forged);
  });

  it('refuses HS256 signed with the public key (algorithm confusion)', async () => {
    const iat = Math.floor(Date.now() / 1000);
    const secrets = [
      new TextEncoder().encode(JSON.stringify(publicJwk)),
      base64url.decode(publicJwk.x as string),
      new TextEncoder().encode(publicJwk.x as string),
    ];
    for (const secret of secrets) {
      const forged = await new SignJWT(claims())
        .setProtectedHeader({ alg: 'HS256', kid, typ: 'at+jwt' })
        .setIssuer('brokerx')
        .setAudience('brokerx.web')
        .setSubject(user.userId)
        .setIssuedAt(iat)
        .setNotBefore(iat)
        .setExpirationTime(iat + 600)
        .setJti(randomUUID())
        .sign(secret);
      await expect401(forged);
    }
  });

  it('refuses a wrong issuer or audience', async () => {
    await expect401(await signed((j) => j.setIssuer('evil')));
    await expect401(await signed((j) => j.setAudience('brokerx.admin')));
    await expect401(await signed((j) => j.setAudience(['other', 'another'])));
  });

  it('refuses an expired token and one not yet valid', async () => {
    const iat = Math.floor(Date.now() / 1000);
    await expect401(
      await signed((j) =>
        j
          .setIssuedAt(iat - 1000)
          .setNotBefore(iat - 1000)
          .setExpirationTime(iat - 60),
      ),
    );
    await expect401(await signed((j) => j.setNotBefore(iat + 600).setExpirationTime(iat + 1200)));
  });

  it('refuses a genuine token once the clock passes its expiry, also one it accepted before', async () => {
    const token = await signed(); // expires in 600 s
    expect((await portfolio({ authorization: `Bearer ${token}` })).status).toBe(200);
    offsetMs = 600_000 + 10_000; // past expiry and the 5 s skew tolerance
    try {
      await expect401(token);
    } finally {
      offsetMs = 0;
    }
    expect((await portfolio({ authorization: `Bearer ${token}` })).status).toBe(200);
    offsetMs = (api.deps.config.ACCESS_TOKEN_TTL_SECONDS + 10) * 1000;
    try {
      await expect401(user.token);
    } finally {
      offsetMs = 0;
    }
  });

  it('refuses a refresh token used as an access token', async () => {
    await expect401(user.refreshToken);
  });

  it('refuses an unknown kid, a missing kid and a wrong typ', async () => {
    await expect401(await signed(undefined, { kid: 'not-a-key-of-ours' }));
    await expect401(await signed(undefined, { kid: undefined }));
    await expect401(await signed(undefined, { typ: 'JWT' }));
    await expect401(await signed(undefined, { typ: undefined }));
  });

  it('refuses tokens missing claims or with claims of the wrong shape', async () => {
    const iat = Math.floor(Date.now() / 1000);
    const base = {
      iss: 'brokerx',
      aud: 'brokerx.web',
      sub: user.userId,
      iat,
      nbf: iat,
      exp: iat + 600,
      jti: randomUUID(),
      ...claims(),
    };
    const sign = (payload: Record<string, unknown>) =>
      new SignJWT(payload).setProtectedHeader({ alg: 'EdDSA', kid, typ: 'at+jwt' }).sign(privateKey);
    const without = (k: string) => Object.fromEntries(Object.entries(base).filter(([key]) => key !== k));
    for (const k of ['sub', 'exp', 'jti', 'account_id', 'sid']) await expect401(await sign(without(k)));
    await expect401(await sign({ ...base, account_id: "' OR 1=1 --" }));
  });

  it('refuses garbage and oversized tokens', async () => {
    await expect401('not.a.jwt');
    await expect401('eyJhbGciOiJFZERTQSJ9');
    await expect401('a'.repeat(5000));
    const [h, p] = (await signed()).split('.');
    await expect401(`${h}.${p}.${base64url.encode('x'.repeat(64))}`);
  });

  it('takes the account from the token, never from the request', async () => {
    const res = await api.call('GET', `/api/v1/portfolio?account_id=${randomUUID()}`, {
      token: user.token,
      headers: { 'x-account-id': randomUUID() },
    });
    expect(((await res.json()) as { account_id: string }).account_id).toBe(user.accountId);
  });

  it('publishes exactly the verifying key material, no private part', async () => {
    const keys = (
      (await (await api.call('GET', '/.well-known/jwks.json')).json()) as { keys: Record<string, unknown>[] }
    ).keys;
    expect(keys.some((k) => k.kid === kid)).toBe(true);
    const exported = await exportJWK((await generateKeyPair('EdDSA', { extractable: true })).privateKey);
    expect(Object.keys(exported)).toContain('d');
    for (const k of keys) expect(k.d).toBeUndefined();
  });
});
