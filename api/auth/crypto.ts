/**
 * Small crypto helpers for identity: opaque random tokens, their stored hashes, and the authenticated
 * encryption of JWT private keys at rest (AES-256-GCM under a key derived from SIGNING_KEY_SECRET).
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';

/** A random opaque token (verification links, refresh tokens): 256 bits, base64url. */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/** What the database keeps of an opaque token: its SHA-256. The tokens are random, so no salt is needed. */
export function tokenHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Short stable pseudonym for rate-limit keys, so Redis holds no email addresses. */
export function keyId(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('base64url').slice(0, 22);
}

/** An encrypted private key as stored in signing_keys.private_jwk. */
export interface SealedJwk {
  enc: 'A256GCM';
  iv: string;
  tag: string;
  ct: string;
}

function kek(secret: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, 'brokerx', 'signing-key-encryption v1', 32));
}

/** Encrypt a private JWK; the key id is bound as additional data, so a sealed key cannot be moved to another row. */
export function sealJwk(secret: string, kid: string, jwk: object): SealedJwk {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', kek(secret), iv);
  cipher.setAAD(Buffer.from(kid, 'utf8'));
  const ct = Buffer.concat([cipher.update(JSON.stringify(jwk), 'utf8'), cipher.final()]);
  return {
    enc: 'A256GCM',
    iv: iv.toString('base64url'),
    tag: cipher.getAuthTag().toString('base64url'),
    ct: ct.toString('base64url'),
  };
}

export function isSealedJwk(value: unknown): value is SealedJwk {
  const v = value as Partial<SealedJwk> | null;
  return (
    !!v &&
    v.enc === 'A256GCM' &&
    typeof v.iv === 'string' &&
    typeof v.tag === 'string' &&
    typeof v.ct === 'string'
  );
}

export function unsealJwk(secret: string, kid: string, sealed: SealedJwk): Record<string, unknown> {
  const decipher = createDecipheriv('aes-256-gcm', kek(secret), Buffer.from(sealed.iv, 'base64url'));
  decipher.setAAD(Buffer.from(kid, 'utf8'));
  decipher.setAuthTag(Buffer.from(sealed.tag, 'base64url'));
  const plain = Buffer.concat([decipher.update(Buffer.from(sealed.ct, 'base64url')), decipher.final()]);
  return JSON.parse(plain.toString('utf8')) as Record<string, unknown>;
}
