import { describe, expect, it } from 'vitest';
import { keyId, randomToken, sealJwk, tokenHash, unsealJwk } from './crypto.js';

describe('identity crypto helpers', () => {
  const secret = 'a-test-secret-that-is-at-least-32-chars';

  it('seals private keys with AES-GCM bound to their kid', () => {
    const jwk = { kty: 'OKP', crv: 'Ed25519', d: 'secret-part', x: 'public-part' };
    const sealed = sealJwk(secret, 'kid-1', jwk);
    expect(JSON.stringify(sealed)).not.toContain('secret-part');
    expect(unsealJwk(secret, 'kid-1', sealed)).toEqual(jwk);
    expect(() => unsealJwk(secret, 'kid-2', sealed)).toThrow();
    expect(() => unsealJwk(`${secret}x`, 'kid-1', sealed)).toThrow();
    // Flip every bit of the first byte (setting it to 0 changed nothing when it was 0 already: 1 in 256).
    const ct = Buffer.from(sealed.ct, 'base64url');
    ct[0] = ct[0]! ^ 0xff;
    const tampered = { ...sealed, ct: ct.toString('base64url') };
    expect(() => unsealJwk(secret, 'kid-1', tampered)).toThrow();
  });

  it('makes 256-bit random tokens and stores only their hash', () => {
    const t = randomToken();
    expect(t).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(randomToken()).not.toBe(t);
    expect(tokenHash(t)).toMatch(/^[0-9a-f]{64}$/);
    expect(tokenHash(t)).toBe(tokenHash(t));
    expect(keyId('a@b.test')).toHaveLength(22);
  });
});
