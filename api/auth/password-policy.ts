/**
 * Which new passwords are accepted (registration, reset, change, operator:create): 8-128 characters
 * (`NewPassword`), and not one that attackers try first (`weakPasswordReason`):
 *
 * - one of the commonly breached passwords, compared without case: the frequency-ordered list of
 *   @zxcvbn-ts/language-common (49,233 passwords from breach corpora), bundled, so no request leaves the
 *   machine;
 * - such a password with digits, spaces or symbols around it (`Password123!`, `!dragon2024`), the first
 *   mutation guessing tools try;
 * - a word of the context: the service's name, or the account's own address or its part before the @.
 *
 * A refusal is a 422 `password_too_common` naming the field, like a validation error (ADR 0008).
 */
import { z } from '@hono/zod-openapi';
import { dictionary } from '@zxcvbn-ts/language-common';
import { ApiError } from '../problem.js';

export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 128;

export const NewPassword = z
  .string()
  .min(PASSWORD_MIN_LENGTH, `must be at least ${PASSWORD_MIN_LENGTH} characters`)
  .max(PASSWORD_MAX_LENGTH, `must be at most ${PASSWORD_MAX_LENGTH} characters`);

/** The bundled list, lower case. */
const COMMON = new Set(dictionary['passwords-common'].map((p) => p.toLowerCase()));

const SERVICE_WORDS = ['brokerx'];
/** Digits, spaces and symbols around a word: `!!password123` is `password` to a guessing tool. */
const PADDING = /^[^\p{L}]+|[^\p{L}]+$/gu;

/** Why `password` is too easy to guess for the holder of `email`, or undefined when it is acceptable. */
export function weakPasswordReason(password: string, context: { email?: string } = {}): string | undefined {
  const lower = password.toLowerCase();
  const core = lower.replace(PADDING, '');
  if (COMMON.has(lower) || COMMON.has(core))
    return 'is one of the most common passwords (found in breaches): choose another, a few unrelated words work well';
  const email = context.email?.toLowerCase();
  const local = email?.split('@')[0];
  const words = [...SERVICE_WORDS, ...(email ? [email] : []), ...(local && local.length >= 4 ? [local] : [])];
  if (words.some((w) => lower.includes(w)))
    return 'must not contain your email address or the name of the service';
  return undefined;
}

/** Throws the 422 `password_too_common` for `field` when the password is too easy to guess. */
export function refuseWeakPassword(password: string, field: string, context: { email?: string } = {}): void {
  const reason = weakPasswordReason(password, context);
  if (reason)
    throw new ApiError('password_too_common', 'This password is too easy to guess', [`${field}: ${reason}`]);
}
