import { describe, expect, it } from 'vitest';
import { TEST_PASSWORD } from '../../test/users.js';
import { weakPasswordReason } from './password-policy.js';

describe('the password policy', () => {
  it('refuses the commonly breached passwords in any case, and with digits or symbols around them', () => {
    for (const p of [
      'password',
      'PASSWORD',
      '12345678',
      'qwertyuiop',
      'iloveyou',
      'Password123!',
      '!!dragon2024',
    ])
      expect(weakPasswordReason(p), p).toMatch(/most common passwords/);
  });

  it("refuses the service's name and the account's own address", () => {
    const email = 'ada.lovelace@example.test';
    for (const p of ['my-brokerx-pass', 'Ada.Lovelace-1815', 'ada.lovelace@example.test'])
      expect(weakPasswordReason(p, { email }), p).toMatch(/email address or the name/);
  });

  it('accepts passphrases, among them the ones the tests and the documentation use', () => {
    for (const p of [
      TEST_PASSWORD,
      'correct horse battery staple',
      'a longer new passphrase',
      'analytical-engine-1843',
      'simulator-bot-password',
      'a brand new passphrase 42',
    ])
      expect(weakPasswordReason(p, { email: 'ada@example.test' }), p).toBeUndefined();
  });
});
