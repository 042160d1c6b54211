/**
 * Admission control for order placement: at most MAX_INFLIGHT_ORDERS sagas in flight per api instance.
 *
 * Beyond that, POST /api/v1/orders is shed with a 429 by a middleware that runs right after CORS, before
 * the request middleware, the body and authentication: under overload a 429 must cost next to nothing, or
 * answering them eats the capacity the admitted orders need. The 429 carries the headers of every answer
 * (X-Request-Id, X-Instance); sheds are counted in `http_requests_total` and
 * `orders_placed_total{result="shed"}` instead of being logged one by one.
 * The handler claims its slot after authentication and parsing, checking again (another request may
 * have taken the last slot meanwhile).
 *
 * Retry-After tells a shed client when to come back, sized so that the crowd of shed clients returns
 * about as fast as the api admits orders. By Little's law the clients waiting to retry number about the
 * requests shed per second times the mean wait they were given; the api admits A per second, so a wait of
 * (crowd / A) seconds brings them back at about A per second, one shed per admission instead of a storm
 * of 429s. Each client draws a whole number of seconds around that mean (so that they do not return
 * together), 1 s under a light overload, at most MAX_RETRY_AFTER (a mean of about 15 s). A 500-user
 * crowd on an api admitting 16 orders a second would need a mean of about 30 s; at the cap its orders
 * cost about three 429s each (measured: docs/benchmarks/README.md) rather than eight with the former
 * rule (a draw from 1 to the sheds per admission, at most 10 s).
 */
import { randomInt, randomUUID } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { ApiError, problem } from './problem.js';
import type { ApiDeps, AppEnv } from './types.js';

export const PLACE_ORDER_PATH = '/api/v1/orders';
export const MAX_RETRY_AFTER = 30;

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;
/** A request's id: the X-Request-Id it was sent with when that is a valid one, else a new UUID. */
export const requestIdOf = (sent: string | undefined): string =>
  sent && REQUEST_ID.test(sent) ? sent : randomUUID();

/**
 * Seconds to put in Retry-After for a mean wait of `wait` seconds: 1 + a whole number drawn below a
 * spread of 2 * wait - 1 (whose mean is `wait`), from 1 s up to MAX_RETRY_AFTER. `pick(n)` is a whole
 * number in [0, n).
 */
export function retryAfterSeconds(wait: number, pick: (n: number) => number = randomInt): number {
  const spread = Math.min(MAX_RETRY_AFTER, Math.max(1, Math.round(2 * wait - 1)));
  return 1 + pick(spread);
}

/**
 * The wait that spreads the shed crowd over the admissions, from the last whole second: its sheds times
 * the mean Retry-After they were given (the crowd) over its admissions (at least one). Counts the
 * current second, and at each new one keeps the figure of the second that just ended (0 when that
 * second saw no request at all).
 */
export class OverloadWindow {
  private start = 0;
  private told = 0;
  private admitted = 0;
  private last = 0;

  constructor(private readonly now: () => number = Date.now) {}

  private roll(): void {
    const now = this.now();
    if (now - this.start < 1000) return;
    this.last = now - this.start < 2000 ? this.told / Math.max(1, this.admitted) : 0;
    this.start = now;
    this.told = 0;
    this.admitted = 0;
  }

  admit(): void {
    this.roll();
    this.admitted++;
  }

  /** A shed request: the Retry-After (seconds) to give it, recorded as given. */
  shedOne(pick?: (n: number) => number): number {
    this.roll();
    const seconds = retryAfterSeconds(this.last, pick);
    this.told += seconds;
    return seconds;
  }

  /** The mean wait, in seconds, that the last completed second asks shed clients for. */
  get wait(): number {
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
    metrics.ordersPlaced.inc({ result: 'shed' });
    const retryAfter = String(overload.shedOne());
    return new ApiError('too_many_requests', 'Too many orders in flight, retry shortly', undefined, {
      'retry-after': retryAfter,
    });
  };
  return {
    gate: async (c, next) => {
      if (inflight < config.MAX_INFLIGHT_ORDERS || c.req.method !== 'POST' || c.req.path !== PLACE_ORDER_PATH)
        return next();
      const started = performance.now();
      const requestId = requestIdOf(c.req.header('x-request-id'));
      c.set('requestId', requestId);
      const res = problem(c, shed());
      res.headers.set('X-Request-Id', requestId);
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
      overload.admit();
      inflight++;
      metrics.inflightOrders.set(inflight);
    },
    leave() {
      inflight--;
      metrics.inflightOrders.set(inflight);
    },
  };
}
