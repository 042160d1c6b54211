import { generate } from 'otplib';
import { describe, expect, it } from 'vitest';
import {
  codeForStep,
  emailCodeStep,
  matchAppCode,
  matchStepCode,
  newTotpSecret,
  otpauthUri,
  timeStep,
} from './totp.js';

describe('TOTP', () => {
  const secret = newTotpSecret();
  const now = new Date('2030-06-01T10:00:10Z');
  const step = timeStep(now);

  it('uses 30 s steps and 160-bit base32 secrets', () => {
    expect(step).toBe(Math.floor(now.getTime() / 30_000));
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
  });

  it('matches RFC 6238 codes of the current step and one step either side, not further', async () => {
    const at = (s: number) => codeForStep(secret, s);
    expect(await matchAppCode(secret, await at(step), now)).toBe(step);
    expect(await matchAppCode(secret, await at(step - 1), now)).toBe(step - 1);
    expect(await matchAppCode(secret, await at(step + 1), now)).toBe(step + 1);
    const far = await at(step - 2);
    if (![await at(step - 1), await at(step), await at(step + 1)].includes(far))
      expect(await matchAppCode(secret, far, now)).toBeNull();
    expect(await codeForStep(secret, step)).toBe(await generate({ secret, epoch: step * 30 }));
  });

  it('refuses a step at or before the last accepted one (replay)', async () => {
    const code = await codeForStep(secret, step);
    expect(await matchAppCode(secret, code, now, step)).toBeNull();
    expect(await matchAppCode(secret, code, now, step - 1)).toBe(step);
  });

  it('refuses, without throwing, when mailed codes used steps ahead of the clock', async () => {
    const next = await codeForStep(secret, step + 1);
    // Three logins by mailed code within one step: the last used step is two ahead of the clock.
    for (const after of [step + 1, step + 2, step + 3])
      expect(await matchAppCode(secret, next, now, after)).toBeNull();
    expect(await matchAppCode(secret, next, now, step)).toBe(step + 1);
  });

  it('matches emailed codes to exactly their step', async () => {
    const code = await codeForStep(secret, step + 3);
    expect(await matchStepCode(secret, code, step + 3)).toBe(true);
    expect(await matchStepCode(secret, code, step + 2)).toBe(false);
    expect(await matchStepCode(secret, 'abcdef', step)).toBe(false);
    expect(await matchAppCode(secret, '12345', now)).toBeNull();
  });

  it('mails the next unused step when the current one was spent', () => {
    expect(emailCodeStep(now, 0)).toBe(step);
    expect(emailCodeStep(now, step - 5)).toBe(step);
    expect(emailCodeStep(now, step)).toBe(step + 1);
    expect(emailCodeStep(now, step + 1)).toBe(step + 2);
  });

  it('builds an otpauth URI for authenticator apps', () => {
    expect(otpauthUri(secret, 'a+b@c.test')).toBe(
      `otpauth://totp/BrokerX:a%2Bb%40c.test?secret=${secret}&issuer=BrokerX`,
    );
  });
});
