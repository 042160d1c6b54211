/**
 * Password hashing: Argon2id with OWASP's minimum profile (19 MiB, 2 passes, 1 lane), see ADR 0008.
 * Unknown users are checked against a dummy hash with the same parameters, so "no such user" costs the
 * same time as "wrong password".
 */
import { hash, verify, type Algorithm } from '@node-rs/argon2';
import { randomToken } from './crypto.js';

/** `Algorithm.Argon2id` (a const enum, which isolatedModules cannot read from a declaration file). */
const ARGON2ID = 2 as Algorithm;

export const ARGON2_PARAMS = {
  algorithm: ARGON2ID,
  /** KiB: 19 MiB. */
  memoryCost: 19 * 1024,
  timeCost: 2,
  parallelism: 1,
  outputLen: 32,
} as const;

export function hashPassword(password: string): Promise<string> {
  return hash(password, ARGON2_PARAMS);
}

/** False for a wrong password and for a malformed stored hash (never throws). */
export async function verifyPassword(stored: string, password: string): Promise<boolean> {
  try {
    return await verify(stored, password);
  } catch {
    return false;
  }
}

let dummy: Promise<string> | undefined;

/** Hash the dummy once, ahead of the first unknown-user login. */
export function warmDummyHash(): Promise<string> {
  dummy ??= hashPassword(randomToken());
  return dummy;
}

/** Spend the time a real verification takes, then fail. */
export async function verifyDummy(password: string): Promise<false> {
  await verifyPassword(await warmDummyHash(), password);
  return false;
}
