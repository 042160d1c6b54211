import { describe, expect, it } from 'vitest';
import { verificationMail } from './mails.js';

describe('verification mail', () => {
  const lifetime = (seconds: number) =>
    verificationMail('ada@example.test', 'https://brokerx.example/verify?token=t', seconds).text;

  it('states the link lifetime of VERIFICATION_TOKEN_TTL_SECONDS in the largest whole unit', () => {
    // The default (24 h) reads as it always did.
    expect(lifetime(86_400)).toContain(
      'The link can be used once and expires in 24 hours. If you did not register, ignore this mail.',
    );
    expect(lifetime(1800)).toContain('expires in 30 minutes.');
    expect(lifetime(5400)).toContain('expires in 90 minutes.');
    expect(lifetime(600)).toContain('expires in 10 minutes.');
    expect(lifetime(60)).toContain('expires in 60 seconds.');
  });

  it('never states more than the lifetime: hours only when whole, else whole minutes, rounded down', () => {
    expect(lifetime(7200)).toContain('expires in 2 hours.');
    expect(lifetime(9000)).toContain('expires in 150 minutes.');
    expect(lifetime(9059)).toContain('expires in 150 minutes.');
    expect(lifetime(150)).toContain('expires in 2 minutes.');
    expect(lifetime(119)).toContain('expires in 119 seconds.');
  });
});
