/**
 * Abuse limits in Redis: fixed-window counters, several per request (per address, per account and
 * address, per account), incremented atomically by one script before the expensive work is done. Going
 * over any of them answers 429 with Retry-After = what is left of that window. A window is never extended
 * by further attempts, so hammering does not prolong a block. The design (and why a victim cannot be
 * locked out by one attacker) is in docs/adr/0008-identity-and-tokens.md.
 *
 * Redis unreachable: counting fails closed (503 with Retry-After, the guarded work is not done), and
 * forgetting fails open (a missed reset only leaves a counter to expire). Why, per limit: ADR 0017.
 */
import type { Redis } from 'ioredis';
import { ApiError } from '../problem.js';
import { serviceUnavailable } from '../unavailable.js';
import { keyId } from './crypto.js';

export interface Limit {
  limit: number;
  windowSeconds: number;
}

/** Limits by action and scope. `account` keys are derived from the email, known or not (no oracle). */
export const LIMITS = {
  register: {
    address: { limit: 20, windowSeconds: 3600 },
    account: { limit: 5, windowSeconds: 3600 },
  },
  login: {
    address: { limit: 100, windowSeconds: 900 },
    accountAddress: { limit: 10, windowSeconds: 900 },
    /** Counted and enforced only for sources the account does not trust (step-up.ts, ADR 0008). */
    account: { limit: 100, windowSeconds: 3600 },
  },
  /** Password checks of a logged-in session (reauthenticate, change): keyed by user id. */
  reauth: {
    accountAddress: { limit: 10, windowSeconds: 900 },
    account: { limit: 30, windowSeconds: 3600 },
  },
  /** Reset mails: per address and per account, so nobody floods a mailbox. */
  forgot: {
    address: { limit: 20, windowSeconds: 3600 },
    account: { limit: 5, windowSeconds: 3600 },
  },
  /** Authenticator-reset requests (each may mail the owner): like forgot. */
  mfaReset: {
    address: { limit: 20, windowSeconds: 3600 },
    account: { limit: 5, windowSeconds: 3600 },
  },
  /** Mailed single-use tokens (password reset, authenticator reset confirm and cancel): 256 bits each. */
  reset: {
    address: { limit: 30, windowSeconds: 900 },
  },
  unlock: {
    address: { limit: 30, windowSeconds: 900 },
  },
  /** Second-factor codes (verify_mfa, reauthenticate, activate). */
  mfa: {
    address: { limit: 100, windowSeconds: 900 },
    accountAddress: { limit: 5, windowSeconds: 900 },
    /** Wrong codes only, from sources the account does not trust (auth.ts countMfaAttempt, ADR 0008). */
    account: { limit: 20, windowSeconds: 3600 },
  },
} as const satisfies Record<string, Record<string, Limit>>;

export type Action = keyof typeof LIMITS;
export type Scope = 'address' | 'accountAddress' | 'account';

export interface Bucket extends Limit {
  key: string;
}

/** INCR each key, start its window on the first hit; returns [count, pttl] per key. */
const HIT_SCRIPT = `
local out = {}
for i, key in ipairs(KEYS) do
  local n = redis.call('INCR', key)
  local ttl = redis.call('PTTL', key)
  if n == 1 or ttl < 0 then
    redis.call('PEXPIRE', key, ARGV[i])
    ttl = tonumber(ARGV[i])
  end
  out[#out + 1] = n
  out[#out + 1] = ttl
end
return out`;

/** DECR each key that still counts something (an expired window stays gone, nothing goes below 0). */
const REFUND_SCRIPT = `
for _, key in ipairs(KEYS) do
  if (tonumber(redis.call('GET', key)) or 0) > 0 then redis.call('DECR', key) end
end`;

export class RateLimiter {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    /** Scales the per-address limits (config AUTH_ADDRESS_LIMIT_MULTIPLIER), for load tests from one host. */
    private readonly addressMultiplier = 1,
  ) {}

  /**
   * Bucket keys for an action: `address` only when the address is known; `accountAddress` and `account`
   * when an account is given. `only` picks some of them.
   */
  buckets(action: Action, scope: { address?: string; account?: string }, only?: Scope[]): Bucket[] {
    const limits: Partial<Record<Scope, Limit>> = LIMITS[action];
    const out: Bucket[] = [];
    const add = (name: Scope, id: string) => {
      const limit = limits[name];
      if (limit && (!only || only.includes(name))) {
        const scaled = name === 'address' ? { ...limit, limit: limit.limit * this.addressMultiplier } : limit;
        out.push({ key: `${this.prefix}rl:${action}:${name}:${id}`, ...scaled });
      }
    };
    if (scope.address) add('address', keyId(scope.address));
    if (scope.account) {
      add('accountAddress', `${keyId(scope.account)}:${keyId(scope.address ?? 'unknown')}`);
      add('account', keyId(scope.account));
    }
    return out;
  }

  /** Count one attempt in every bucket; throws a 429 ApiError when any is over its limit. */
  async hit(buckets: Bucket[]): Promise<void> {
    if (buckets.length === 0) return;
    let result: number[];
    try {
      result = (await this.redis.eval(
        HIT_SCRIPT,
        buckets.length,
        ...buckets.map((b) => b.key),
        ...buckets.map((b) => String(b.windowSeconds * 1000)),
      )) as number[];
    } catch {
      // Fail closed: an attempt that cannot be counted is not allowed (ADR 0017).
      throw serviceUnavailable('redis');
    }
    let retryMs = 0;
    buckets.forEach((b, i) => {
      const count = result[2 * i] ?? 0;
      const ttl = result[2 * i + 1] ?? b.windowSeconds * 1000;
      if (count > b.limit) retryMs = Math.max(retryMs, ttl);
    });
    if (retryMs > 0) {
      const retryAfter = Math.max(1, Math.ceil(retryMs / 1000));
      throw new ApiError(
        'too_many_requests',
        'Too many attempts, try again later',
        undefined,
        { 'retry-after': String(retryAfter) },
        { retry_after: retryAfter },
      );
    }
  }

  /** Forget the attempts in these buckets (a success from this account and address). Fails open (ADR 0017). */
  async reset(buckets: Bucket[]): Promise<void> {
    if (buckets.length) await this.redis.del(...buckets.map((b) => b.key)).catch(() => 0);
  }

  /**
   * Give back the attempt `hit` counted in these buckets (it turned out to be right), keeping each window
   * as it is. Fails open like `reset`.
   */
  async refund(buckets: Bucket[]): Promise<void> {
    if (buckets.length)
      await this.redis.eval(REFUND_SCRIPT, buckets.length, ...buckets.map((b) => b.key)).catch(() => 0);
  }
}
