/**
 * Login challenges in Redis: a correct password opens one per user (`auth:mfa-challenge:<user>`, 10
 * minutes), verify_mfa needs it, and an authenticator reset may only be requested while one is open (the
 * password was just proven). The age is checked against the injected clock too, so tests move time. A
 * challenge holds a fingerprint of the password hash it checked: once the password is reset or changed,
 * the challenge is void, even one opened by a login that read the old hash before the reset (which
 * closes no challenge: it needs no Redis for that).
 */
import type { Redis } from 'ioredis';
import { tokenHash } from './crypto.js';

/** How long a login challenge (and an emailed code) stays valid. */
export const CHALLENGE_TTL_SECONDS = 600;

export type MfaMethod = 'email' | 'totp';
export interface Challenge {
  method: MfaMethod;
  /** The step whose code was emailed (email method). */
  step?: number;
  issuedAt: string;
  /** passwordFingerprint of the password hash the login checked. */
  password: string;
}

/** What a challenge keeps of the password hash it checked (not the hash itself). */
export const passwordFingerprint = (passwordHash: string) => tokenHash(passwordHash);

export class LoginChallenges {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly now: () => Date,
  ) {}

  private key = (userId: string) => `${this.prefix}auth:mfa-challenge:${userId}`;

  async open(userId: string, challenge: Challenge): Promise<void> {
    await this.redis.set(this.key(userId), JSON.stringify(challenge), 'EX', CHALLENGE_TTL_SECONDS);
  }

  /**
   * The open challenge of a user, if any, not expired by the injected clock, and opened with the password
   * the user still has. No user: the same Redis read (of a key nothing writes), so the time of the answer
   * does not tell which addresses have an account.
   */
  async current(user: { id: string; passwordHash: string } | undefined): Promise<Challenge | undefined> {
    const raw = await this.redis.get(this.key(user?.id ?? 'none'));
    if (!raw || !user) return undefined;
    const challenge = JSON.parse(raw) as Challenge;
    const age = this.now().getTime() - Date.parse(challenge.issuedAt);
    const fresh = age <= CHALLENGE_TTL_SECONDS * 1000;
    return fresh && challenge.password === passwordFingerprint(user.passwordHash) ? challenge : undefined;
  }

  async close(userId: string): Promise<void> {
    await this.redis.del(this.key(userId));
  }
}
