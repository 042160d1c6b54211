/**
 * Access tokens: short-lived JWTs signed with Ed25519 (`alg: EdDSA`), header `typ: at+jwt` (RFC 9068) and
 * `kid`, issuer `brokerx`, audience `brokerx.web`. Verification pins the algorithm, issuer, audience and
 * typ, and resolves the key by `kid` only among BrokerX's own keys: `alg: none`, HS256 signed with the
 * public key, a foreign key or an unknown kid all fail before any claim is trusted.
 */
import { randomUUID } from 'node:crypto';
import { SignJWT, errors, jwtVerify, type CryptoKey, type JWTPayload } from 'jose';

export const JWT_ALG = 'EdDSA';
export const ACCESS_TOKEN_TYP = 'at+jwt';
export const JWT_ISSUER = 'brokerx';
export const JWT_AUDIENCE = 'brokerx.web';
/** Tolerated clock skew between api instances, in seconds. */
export const CLOCK_TOLERANCE_SECONDS = 5;
/** Anything longer is not one of ours: refuse it before parsing. */
const MAX_TOKEN_LENGTH = 4096;
/** What a token's `role` claim may say; absent (tokens from before roles) means client. */
export const TOKEN_ROLES = ['client', 'operator'] as const;
export type TokenRole = (typeof TOKEN_ROLES)[number];

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface AccessTokenClaims {
  userId: string;
  accountId: string;
  email: string;
  /** The refresh-token family (session) the token was issued in: logout and reuse detection revoke it. */
  sessionId: string;
  /** operator: may use /api/v1/admin (the user's role when the token was issued). */
  role: TokenRole;
}

export interface VerifiedAccessToken extends AccessTokenClaims {
  jti: string;
  expiresAt: Date;
}

/** The token is not acceptable; `reason` is for logs and tests, never shown to the caller. */
export class InvalidTokenError extends Error {
  constructor(readonly reason: string) {
    super(`invalid access token: ${reason}`);
    this.name = 'InvalidTokenError';
  }
}

export async function signAccessToken(
  key: { kid: string; privateKey: CryptoKey },
  claims: AccessTokenClaims,
  now: Date,
  ttlSeconds: number,
): Promise<{ token: string; jti: string; expiresAt: Date }> {
  const iat = Math.floor(now.getTime() / 1000);
  const jti = randomUUID();
  const token = await new SignJWT({
    account_id: claims.accountId,
    email: claims.email,
    sid: claims.sessionId,
    role: claims.role,
  })
    .setProtectedHeader({ alg: JWT_ALG, kid: key.kid, typ: ACCESS_TOKEN_TYP })
    .setIssuer(JWT_ISSUER)
    .setAudience(JWT_AUDIENCE)
    .setSubject(claims.userId)
    .setIssuedAt(iat)
    .setNotBefore(iat)
    .setExpirationTime(iat + ttlSeconds)
    .setJti(jti)
    .sign(key.privateKey);
  return { token, jti, expiresAt: new Date((iat + ttlSeconds) * 1000) };
}

/** Finds a verification key by kid among BrokerX's published keys; undefined when unknown. */
export type KeyResolver = (kid: string) => Promise<CryptoKey | undefined>;

function claimsOf(payload: JWTPayload): VerifiedAccessToken {
  const { sub, jti, exp } = payload;
  const accountId = payload.account_id;
  const email = payload.email;
  const sid = payload.sid;
  if (typeof sub !== 'string' || !UUID.test(sub)) throw new InvalidTokenError('sub');
  if (typeof accountId !== 'string' || !UUID.test(accountId)) throw new InvalidTokenError('account_id');
  if (typeof email !== 'string' || email.length === 0) throw new InvalidTokenError('email');
  if (typeof sid !== 'string' || !UUID.test(sid)) throw new InvalidTokenError('sid');
  if (typeof jti !== 'string' || typeof exp !== 'number') throw new InvalidTokenError('jti');
  const role = payload.role ?? 'client';
  if (!TOKEN_ROLES.includes(role as TokenRole)) throw new InvalidTokenError('role');
  return {
    userId: sub,
    accountId,
    email,
    sessionId: sid,
    role: role as TokenRole,
    jti,
    expiresAt: new Date(exp * 1000),
  };
}

export async function verifyAccessToken(
  token: string,
  resolveKey: KeyResolver,
  now: Date,
): Promise<VerifiedAccessToken> {
  if (token.length > MAX_TOKEN_LENGTH) throw new InvalidTokenError('too long');
  try {
    const { payload } = await jwtVerify(
      token,
      async (header) => {
        if (typeof header.kid !== 'string' || header.kid.length > 128)
          throw new InvalidTokenError('kid missing');
        const key = await resolveKey(header.kid);
        if (!key) throw new InvalidTokenError('unknown kid');
        return key;
      },
      {
        algorithms: [JWT_ALG],
        issuer: JWT_ISSUER,
        audience: JWT_AUDIENCE,
        typ: ACCESS_TOKEN_TYP,
        currentDate: now,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        requiredClaims: ['sub', 'exp', 'iat', 'nbf', 'jti'],
      },
    );
    return claimsOf(payload);
  } catch (err) {
    if (err instanceof InvalidTokenError) throw err;
    if (err instanceof errors.JOSEError) throw new InvalidTokenError(err.code);
    throw err;
  }
}
