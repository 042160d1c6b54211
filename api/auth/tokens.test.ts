import { randomUUID } from 'node:crypto';
import { SignJWT, base64url, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  InvalidTokenError,
  signAccessToken,
  verifyAccessToken,
  type AccessTokenClaims,
  type KeyResolver,
} from './tokens.js';

const enc = (v: object) => base64url.encode(JSON.stringify(v));

describe('access tokens', () => {
  const kid = 'k1';
  let privateKey: CryptoKey;
  let publicKey: CryptoKey;
  let resolve: KeyResolver;
  const now = new Date('2030-01-01T12:00:00Z');
  const claims: AccessTokenClaims = {
    userId: randomUUID(),
    accountId: randomUUID(),
    email: 'a@b.test',
    sessionId: randomUUID(),
    role: 'client',
  };
  const iat = Math.floor(now.getTime() / 1000);

  const reason = async (token: string, at = now) => {
    try {
      await verifyAccessToken(token, resolve, at);
      return 'accepted';
    } catch (err) {
      expect(err).toBeInstanceOf(InvalidTokenError);
      return (err as InvalidTokenError).reason;
    }
  };
  const forge = (
    edit: (j: SignJWT) => SignJWT,
    header: Record<string, unknown> = {},
    key: CryptoKey | Uint8Array = privateKey,
    extra: Record<string, unknown> = {},
  ) =>
    edit(
      new SignJWT({ account_id: claims.accountId, email: claims.email, sid: claims.sessionId, ...extra })
        .setProtectedHeader({ alg: 'EdDSA', kid, typ: 'at+jwt', ...header })
        .setIssuer('brokerx')
        .setAudience('brokerx.web')
        .setSubject(claims.userId)
        .setIssuedAt(iat)
        .setNotBefore(iat)
        .setExpirationTime(iat + 900)
        .setJti(randomUUID()),
    ).sign(key);

  beforeAll(async () => {
    ({ privateKey, publicKey } = await generateKeyPair('EdDSA'));
    resolve = async (k) => (k === kid ? publicKey : undefined);
  });

  it('round-trips the claims with an EdDSA at+jwt header', async () => {
    const { token, expiresAt } = await signAccessToken({ kid, privateKey }, claims, now, 900);
    const [header] = token.split('.');
    expect(JSON.parse(Buffer.from(header!, 'base64url').toString())).toEqual({
      alg: 'EdDSA',
      kid,
      typ: 'at+jwt',
    });
    const verified = await verifyAccessToken(token, resolve, now);
    expect(verified).toMatchObject(claims);
    expect(verified.expiresAt).toEqual(expiresAt);
    expect(expiresAt.getTime() - now.getTime()).toBe(900_000);
  });

  it('carries the role claim: operator round-trips, none is a client, an unknown role is refused', async () => {
    const { token } = await signAccessToken({ kid, privateKey }, { ...claims, role: 'operator' }, now, 900);
    expect((await verifyAccessToken(token, resolve, now)).role).toBe('operator');
    // forge() signs a token as issued before roles existed: no role claim.
    expect((await verifyAccessToken(await forge((j) => j), resolve, now)).role).toBe('client');
    expect(await reason(await forge((j) => j, {}, privateKey, { role: 'admin' }))).toBe('role');
  });

  it('expires, with 5 s of skew tolerance', async () => {
    const { token } = await signAccessToken({ kid, privateKey }, claims, now, 900);
    expect(await reason(token, new Date(now.getTime() + 904_000))).toBe('accepted');
    expect(await reason(token, new Date(now.getTime() + 906_000))).toBe('ERR_JWT_EXPIRED');
    expect(await reason(token, new Date(now.getTime() - 10_000))).toBe('ERR_JWT_CLAIM_VALIDATION_FAILED'); // nbf
  });

  it('pins the algorithm: none and HS256 with the public key fail before any key is used', async () => {
    const payload = {
      iss: 'brokerx',
      aud: 'brokerx.web',
      sub: claims.userId,
      iat,
      nbf: iat,
      exp: iat + 900,
      jti: randomUUID(),
      account_id: claims.accountId,
      email: claims.email,
      sid: claims.sessionId,
    };
    expect(await reason(`${enc({ alg: 'none', kid, typ: 'at+jwt' })}.${enc(payload)}.`)).toBe(
      'ERR_JOSE_ALG_NOT_ALLOWED',
    );
    const jwk = await exportJWK(publicKey);
    expect(
      await reason(await forge((j) => j, { alg: 'HS256' }, new TextEncoder().encode(JSON.stringify(jwk)))),
    ).toBe('ERR_JOSE_ALG_NOT_ALLOWED');
    expect(await reason(await forge((j) => j, { alg: 'HS256' }, base64url.decode(jwk.x!)))).toBe(
      'ERR_JOSE_ALG_NOT_ALLOWED',
    );
  });

  it('refuses foreign keys, unknown or missing kids, wrong typ, issuer and audience', async () => {
    const other = await generateKeyPair('EdDSA');
    expect(await reason(await forge((j) => j, {}, other.privateKey))).toBe(
      'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
    );
    expect(await reason(await forge((j) => j, { kid: 'k2' }))).toBe('unknown kid');
    expect(await reason(await forge((j) => j, { kid: undefined }))).toBe('kid missing');
    expect(await reason(await forge((j) => j, { typ: 'JWT' }))).toBe('ERR_JWT_CLAIM_VALIDATION_FAILED');
    expect(await reason(await forge((j) => j.setIssuer('evil')))).toBe('ERR_JWT_CLAIM_VALIDATION_FAILED');
    expect(await reason(await forge((j) => j.setAudience('brokerx.admin')))).toBe(
      'ERR_JWT_CLAIM_VALIDATION_FAILED',
    );
    expect(await reason(await forge((j) => j))).toBe('accepted');
  });

  it('refuses tokens whose claims are missing or malformed', async () => {
    const sign = (payload: Record<string, unknown>) =>
      new SignJWT(payload).setProtectedHeader({ alg: 'EdDSA', kid, typ: 'at+jwt' }).sign(privateKey);
    const base = {
      iss: 'brokerx',
      aud: 'brokerx.web',
      sub: claims.userId,
      iat,
      nbf: iat,
      exp: iat + 900,
      jti: 'j',
      account_id: claims.accountId,
      email: claims.email,
      sid: claims.sessionId,
    };
    expect(await reason(await sign(base))).toBe('accepted');
    expect(await reason(await sign({ ...base, account_id: 'x' }))).toBe('account_id');
    expect(await reason(await sign({ ...base, sub: 42 }))).not.toBe('accepted');
    expect(await reason(await sign({ ...base, sid: undefined }))).toBe('sid');
    expect(await reason(await sign({ ...base, nbf: undefined }))).toBe('ERR_JWT_CLAIM_VALIDATION_FAILED');
  });

  it('refuses garbage without throwing anything but InvalidTokenError', async () => {
    for (const t of ['', 'a', 'a.b', 'a.b.c', 'x'.repeat(5000), `${enc({ alg: 'EdDSA', kid })}.%%%.abc`])
      expect(await reason(t)).not.toBe('accepted');
  });
});
