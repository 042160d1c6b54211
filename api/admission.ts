/**
 * Admission control for order placement: at most MAX_INFLIGHT_ORDERS sagas in flight per api instance.
 *
 * Beyond that, POST /api/v1/orders is shed with a 429 by a middleware that runs right after CORS, before
 * the request id, the request log line, the body and authentication: under overload a 429 must cost next
 * to nothing, or answering them eats the capacity the admitted orders need. Sheds are counted in
 * `http_requests_total` and `orders_placed_total{result="shed"}` instead of being logged one by one.
 * The handler claims its slot after authentication and parsing, checking again (another request may
 * have taken the last slot meanwhile).
 */
import type { MiddlewareHandler } from 'hono';
import { ApiError, problem } from './problem.js';
import type { ApiDeps, AppEnv } from './types.js';

export const PLACE_ORDER_PATH = '/api/v1/orders';

export interface Admission {
  /** Sheds a placement when every slot is taken; passes everything else through. */
  gate: MiddlewareHandler<AppEnv>;
  /** Claim a slot or throw the 429. */
  enter(): void;
  leave(): void;
}

export function createAdmission({ config, metrics }: Pick<ApiDeps, 'config' | 'metrics'>): Admission {
  let inflight = 0;
  const shed = () => {
    metrics.ordersPlaced.inc({ result: 'shed' });
    return new ApiError('too_many_requests', 'Too many orders in flight, retry shortly', undefined, { 'retry-after': '1' });
  };
  return {
    gate: async (c, next) => {
      if (inflight < config.MAX_INFLIGHT_ORDERS || c.req.method !== 'POST' || c.req.path !== PLACE_ORDER_PATH) return next();
      const started = performance.now();
      const res = problem(c, shed());
      res.headers.set('X-Instance', config.INSTANCE_ID);
      metrics.httpRequests.inc({ method: 'POST', route: PLACE_ORDER_PATH, status: '429' });
      metrics.httpDuration.observe({ method: 'POST', route: PLACE_ORDER_PATH }, (performance.now() - started) / 1000);
      return res;
    },
    enter() {
      if (inflight >= config.MAX_INFLIGHT_ORDERS) throw shed();
      inflight++;
      metrics.inflightOrders.set(inflight);
    },
    leave() {
      inflight--;
      metrics.inflightOrders.set(inflight);
    },
  };
}
