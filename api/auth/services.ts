/**
 * The identity services of one api instance (key cache, rate limiter, sessions, step-up, login challenges,
 * authenticator resets), created once per
 * `ApiDeps` so every router and middleware built from the same deps shares them.
 */
import type { ApiDeps } from '../types.js';
import { LoginChallenges } from './challenges.js';
import { KeyStore } from './keys.js';
import { noticeSender } from './mails.js';
import { MfaResets } from './mfa-reset.js';
import { RateLimiter } from './rate-limit.js';
import { Sessions } from './sessions.js';
import { StepUp } from './step-up.js';

export interface AuthServices {
  keys: KeyStore;
  limiter: RateLimiter;
  sessions: Sessions;
  stepUp: StepUp;
  challenges: LoginChallenges;
  mfaResets: MfaResets;
}

const byDeps = new WeakMap<ApiDeps, AuthServices>();

export function authServices(deps: ApiDeps): AuthServices {
  let services = byDeps.get(deps);
  if (!services) {
    const { config, logger, mailer, now, redis } = deps;
    const db = deps.database.db;
    const keys = new KeyStore({
      db,
      secret: config.SIGNING_KEY_SECRET,
      production: config.NODE_ENV === 'production',
      rotationDays: config.SIGNING_KEY_ROTATION_DAYS,
      accessTokenTtlSeconds: config.ACCESS_TOKEN_TTL_SECONDS,
      now,
      logger,
    });
    const sessions = new Sessions({ db, redis, config, logger, now, keys });
    services = {
      keys,
      limiter: new RateLimiter(redis, config.REDIS_PREFIX, config.AUTH_ADDRESS_LIMIT_MULTIPLIER),
      sessions,
      stepUp: new StepUp(redis, db, config.REDIS_PREFIX, config.REAUTH_TTL_SECONDS, now),
      challenges: new LoginChallenges(redis, config.REDIS_PREFIX, now),
      mfaResets: new MfaResets({ db, config, now, sessions, notify: noticeSender(mailer, logger) }),
    };
    byDeps.set(deps, services);
  }
  return services;
}
