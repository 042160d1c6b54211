/**
 * TOTP (RFC 6238: SHA-1, 6 digits, 30 s steps, the authenticator-app defaults) on otplib 13's functional
 * API. Pure functions of the secret and an explicit time: the caller passes `deps.now()`.
 *
 * Two ways a code reaches the user:
 * - enrolled authenticator app: the code of the current step, accepted one step either side (clock drift);
 * - email (until enrollment): at login the server picks a step, mails that step's code and remembers the
 *   step in the login challenge; only that step's code is accepted for the challenge.
 * Either way a step is accepted once per user (compare-and-set on users.totp_last_step).
 */
import { generate, generateSecret, generateURI, verify } from 'otplib';

export const TOTP_PERIOD_SECONDS = 30;
export const TOTP_ISSUER = 'BrokerX';
/** Drift tolerated for authenticator apps: one step back and one ahead. */
const APP_TOLERANCE: [number, number] = [TOTP_PERIOD_SECONDS, TOTP_PERIOD_SECONDS];

export const CODE_PATTERN = /^\d{6}$/;

export function timeStep(now: Date): number {
  return Math.floor(now.getTime() / 1000 / TOTP_PERIOD_SECONDS);
}

/** A new 160-bit base32 secret. */
export function newTotpSecret(): string {
  return generateSecret({ length: 20 });
}

export function codeForStep(secret: string, step: number): Promise<string> {
  return generate({ secret, epoch: step * TOTP_PERIOD_SECONDS });
}

/**
 * The step whose code a login emails: the current one, or the one after the last accepted step when the
 * current step was already used (a second login within 30 s must not get a spent code).
 */
export function emailCodeStep(now: Date, lastAcceptedStep: number): number {
  return Math.max(timeStep(now), lastAcceptedStep + 1);
}

/** The step an authenticator-app code matches at `now` (±1 step), later than `afterStep` if given; null if none. */
export async function matchAppCode(
  secret: string,
  code: string,
  now: Date,
  afterStep?: number,
): Promise<number | null> {
  if (!CODE_PATTERN.test(code)) return null;
  // Mailed codes may have used steps ahead of the clock (emailCodeStep). No step of the window is later
  // than such a step, and otplib throws for an afterTimeStep past its window rather than refusing.
  if (afterStep !== undefined && afterStep > timeStep(now)) return null;
  const result = await verify({
    secret,
    token: code,
    epoch: Math.floor(now.getTime() / 1000),
    epochTolerance: APP_TOLERANCE,
    ...(afterStep === undefined ? {} : { afterTimeStep: afterStep }),
  });
  return result.valid && 'timeStep' in result ? result.timeStep : null;
}

/** Whether `code` is the code of exactly `step` (emailed codes). */
export async function matchStepCode(secret: string, code: string, step: number): Promise<boolean> {
  if (!CODE_PATTERN.test(code)) return false;
  const result = await verify({ secret, token: code, epoch: step * TOTP_PERIOD_SECONDS, epochTolerance: 0 });
  return result.valid;
}

/** The provisioning URI an authenticator app scans. */
export function otpauthUri(secret: string, email: string): string {
  return generateURI({ issuer: TOTP_ISSUER, label: email, secret });
}
