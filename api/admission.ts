/**
 * Admission control for order placement: at most MAX_INFLIGHT_ORDERS sagas in flight per api instance.
 *
 * Beyond that, POST /api/v1/orders is shed with a 429 by a middleware that runs right after CORS, before
 * the request id, the request log line, the body and authentication: under overload a 429 must cost next
 * to nothing, or answering them eats the capacity the admitted orders need. Sheds are counted in
 * `http_requests_total` and `orders_placed_total{result="shed"}` instead of being logged one by one.
 * The handler claims its slot after authentication and parsing, checking again (another request may
 * have taken the last slot meanwhile).
 *
 * Retry-After tells a shed client when to come back. Under a light overload that is 1 s; when the last
 * second shed many requests per admitted one, clients are spread over up to MAX_RETRY_AFTER seconds
 * (a random whole second each), so that the retries of a crowd neither arrive together nor keep the
 * api busy answering 429s.
 */
import { randomInt } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { ApiError, problem } from './problem.js';
import type { ApiDeps, AppEnv } from './types.js';

export const PLACE_ORDER_PATH = '/api/v1/orders';
export const MAX_RETRY_AFTER = 10;

/**
 * Seconds to put in Retry-After: 1 + a random whole number below the overload (requests shed per
 * request admitted over the last second), at most MAX_RETRY_AFTER. `pick(n)` is a whole number in [0, n).
 */
export function retryAfterSeconds(shedPerAdmitted: number, pick: (n: number) => number = randomInt): number {
  const spread = Math.min(MAX_RETRY_AFTER, Math.max(1, Math.ceil(shedPerAdmitted)));
  return 1 + pick(spread);
}

/**
 * Sheds per admission over the last whole second: counts the current second, and at each new one keeps
 * the ratio of the second that just ended (0 when that second saw no request at all).
 */
export class OverloadWindow {
  private start = 0;
  private shed = 0;
  private admitted = 0;
  private last = 0;

  constructor(private readonly now: () => number = Date.now) {}

  record(shed: boolean): void {
    const now = this.now();
    if (now - this.start >= 1000) {
      this.last = now - this.start < 2000 ? this.shed / Math.max(1, this.admitted) : 0;
      this.start = now;
      this.shed = 0;
      this.admitted = 0;
    }
    if (shed) this.shed++;
    else this.admitted++;
  }

  /** Requests shed per request admitted in the last completed second. */
  get shedPerAdmitted(): number {
    return this.last;
  }
}

export interface Admission {
  /** Sheds a placement when every slot is taken; passes everything else through. */
  gate: MiddlewareHandler<AppEnv>;
  /** Claim a slot or throw the 429. */
  enter(): void;
  leave(): void;
}

export function createAdmission({ config, metrics }: Pick<ApiDeps, 'config' | 'metrics'>): Admission {
  let inflight = 0;
  const overload = new OverloadWindow();
  const shed = () => {
    overload.record(true);
    metrics.ordersPlaced.inc({ result: 'shed' });
    const retryAfter = String(retryAfterSeconds(overload.shedPerAdmitted));
    return new ApiError('too_many_requests', 'Too many orders in flight, retry shortly', undefined, {
      'retry-after': retryAfter,
    });
  };
  return {
    gate: async (c, next) => {
      if (inflight < config.MAX_INFLIGHT_ORDERS || c.req.method !== 'POST' || c.req.path !== PLACE_ORDER_PATH)
        return next();
      const started = performance.now();
      const res = problem(c, shed());
      res.headers.set('X-Instance', config.INSTANCE_ID);
      metrics.httpRequests.inc({ method: 'POST', route: PLACE_ORDER_PATH, status: '429' });
      metrics.httpDuration.observe(
        { method: 'POST', route: PLACE_ORDER_PATH },
        (performance.now() - started) / 1000,
      );
      return res;
    },
    enter() {
      if (inflight >= config.MAX_INFLIGHT_ORDERS) throw shed();
      overload.record(false);
      inflight++;
      metrics.inflightOrders.set(inflight);
    },
    leave() {
      inflight--;
      metrics.inflightOrders.set(inflight);
    },
  };
}
