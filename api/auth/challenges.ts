/**
 * Login challenges in Redis: a correct password opens one per user (`auth:mfa-challenge:<user>`, 10
 * minutes), verify_mfa needs it, and an authenticator reset may only be requested while one is open (the
 * password was just proven). The age is checked against the injected clock too, so tests move time.
 */
import type { Redis } from 'ioredis';

/** How long a login challenge (and an emailed code) stays valid. */
export const CHALLENGE_TTL_SECONDS = 600;

export type MfaMethod = 'email' | 'totp';
export interface Challenge {
  method: MfaMethod;
  /** The step whose code was emailed (email method). */
  step?: number;
  issuedAt: string;
}

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

  /** The open challenge of a user, if any and not expired by the injected clock. */
  async current(userId: string | undefined): Promise<Challenge | undefined> {
    if (!userId) return undefined;
    const raw = await this.redis.get(this.key(userId));
    if (!raw) return undefined;
    const challenge = JSON.parse(raw) as Challenge;
    const age = this.now().getTime() - Date.parse(challenge.issuedAt);
    return age <= CHALLENGE_TTL_SECONDS * 1000 ? challenge : undefined;
  }

  async close(userId: string): Promise<void> {
    await this.redis.del(this.key(userId));
  }
}
