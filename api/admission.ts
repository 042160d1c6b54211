/**
 * Admission control for orders: at most MAX_INFLIGHT_ORDERS sagas in flight per api instance,
 * of which at most MAX_INFLIGHT_ORDERS_PER_ACCOUNT for one account; and at most
 * MAX_INFLIGHT_ORDERS_PER_ACCOUNT replaces and cancels of one account in flight (a cancel-all counts as
 * one), in slots of their own so that a cancel is never refused because placements are in flight
 * (docs/adr/0045-per-account-admission.md).
 *
 * Beyond that, POST /api/v1/orders is shed with a 429 by a middleware that runs right after CORS, before
 * the request middleware, the body and authentication: under overload a 429 must cost next to nothing, or
 * answering them eats the capacity the admitted orders need. The 429 carries the headers of every answer
 * (X-Request-Id, X-Instance); sheds are counted in `http_requests_total` and
 * `orders_placed_total{result="shed"}` instead of being logged one by one.
 * The handler claims its slot after authentication and parsing, checking again (another request may
 * have taken the last slot meanwhile) and checking the account's share, which the middleware cannot
 * know: an account over it gets the same 429, counted as `orders_placed_total{result="shed_account"}`,
 * while other accounts are still admitted. Its Retry-After is drawn around the overload's current wait
 * (1 s without an overload) but not recorded in it: a client that ignores Retry-After and keeps sending
 * must not lengthen the wait every other client is told. A replace or cancel over its account's slots
 * is a 429 with a Retry-After of 1 s (its own requests end within about a second).
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
  /** Claim a placement slot for the account or throw the 429 (the instance's or the account's taken). */
  enter(accountId: string): void;
  leave(accountId: string): void;
  /** Run a replace, cancel or cancel-all in one of the account's modification slots, or throw the 429. */
  modifying<T>(accountId: string, run: () => Promise<T>): Promise<T>;
}

/** The Retry-After of a replace or cancel refused for its account's slots. */
export const MODIFY_RETRY_AFTER = 1;

/** Requests in flight per account; an account with none has no entry. */
class PerAccount {
  private readonly counts = new Map<string, number>();
  constructor(private readonly cap: number) {}
  /** Count one more for the account, or false when it has `cap` already. */
  claim(accountId: string): boolean {
    const n = this.counts.get(accountId) ?? 0;
    if (n >= this.cap) return false;
    this.counts.set(accountId, n + 1);
    return true;
  }
  release(accountId: string): void {
    const n = (this.counts.get(accountId) ?? 1) - 1;
    if (n > 0) this.counts.set(accountId, n);
    else this.counts.delete(accountId);
  }
}

export function createAdmission({ config, metrics }: Pick<ApiDeps, 'config' | 'metrics'>): Admission {
  let inflight = 0;
  const placing = new PerAccount(config.MAX_INFLIGHT_ORDERS_PER_ACCOUNT);
  const modifying = new PerAccount(config.MAX_INFLIGHT_ORDERS_PER_ACCOUNT);
  const overload = new OverloadWindow();
  const tooMany = (detail: string, retryAfter: number) =>
    new ApiError('too_many_requests', detail, undefined, { 'retry-after': String(retryAfter) });
  const shed = () => {
    metrics.ordersPlaced.inc({ result: 'shed' });
    return tooMany('Too many orders in flight, retry shortly', overload.shedOne());
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
    enter(accountId) {
      if (inflight >= config.MAX_INFLIGHT_ORDERS) throw shed();
      if (!placing.claim(accountId)) {
        metrics.ordersPlaced.inc({ result: 'shed_account' });
        const retryAfter = retryAfterSeconds(overload.wait);
        throw tooMany('Too many orders of this account in flight, retry shortly', retryAfter);
      }
      overload.admit();
      inflight++;
      metrics.inflightOrders.set(inflight);
    },
    leave(accountId) {
      placing.release(accountId);
      inflight--;
      metrics.inflightOrders.set(inflight);
    },
    async modifying(accountId, run) {
      if (!modifying.claim(accountId))
        throw tooMany(
          'Too many replaces and cancels of this account in flight, retry shortly',
          MODIFY_RETRY_AFTER,
        );
      try {
        return await run();
      } finally {
        modifying.release(accountId);
      }
    },
  };
}
