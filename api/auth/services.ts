/**
 * The identity services of one api instance (key cache, rate limiter, sessions, step-up), created once per
 * `ApiDeps` so every router and middleware built from the same deps shares them.
 */
import type { ApiDeps } from '../types.js';
import { KeyStore } from './keys.js';
import { RateLimiter } from './rate-limit.js';
import { Sessions } from './sessions.js';
import { StepUp } from './step-up.js';

export interface AuthServices {
  keys: KeyStore;
  limiter: RateLimiter;
  sessions: Sessions;
  stepUp: StepUp;
}

const byDeps = new WeakMap<ApiDeps, AuthServices>();

export function authServices(deps: ApiDeps): AuthServices {
  let services = byDeps.get(deps);
  if (!services) {
    const { config, logger, now, redis } = deps;
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
    services = {
      keys,
      limiter: new RateLimiter(redis, config.REDIS_PREFIX, config.AUTH_ADDRESS_LIMIT_MULTIPLIER),
      sessions: new Sessions({ db, redis, config, logger, now, keys }),
      stepUp: new StepUp(redis, config.REDIS_PREFIX),
    };
    byDeps.set(deps, services);
  }
  return services;
}
