/**
 * HTTP load with autocannon. A flow becomes autocannon's `requests` sequence: `setupRequest` builds each
 * request from the iteration's context (session, order id from the previous answer), `onResponse` times
 * it, records it under its route and lets the flow judge it. Three ways to drive it, mirroring k6's
 * executors:
 *   iterations   a fixed number of flows per connection (per-vu-iterations)
 *   fixedRate    one instance with `overallRate` (constant-arrival-rate)
 *   ramp         a pool of instances resized every second, each connection paced with `connectionRate`
 *                (ramping-vus: a connection is a VU; ramping-arrival-rate: a connection runs one flow/s)
 * autocannon paces in one-second windows, so arrivals come in bursts at each second rather than spread
 * evenly as k6 spreads them; and a connection keeps one request in flight, so a rate holds only while a
 * flow's requests take less than the connection's share of the second.
 */
import autocannon from 'autocannon';
import { ROUTES, rampTarget, type Stage } from '../k6/lib/profiles.js';
import type { Flow, FlowContext, FlowDeps } from './flows.js';
import type { Metrics } from './metrics.js';

/** Seconds before a request counts as timed out (the api gives an order ACK up to 15 s). */
const REQUEST_TIMEOUT_S = 30;

export interface Driver {
  base: string;
  deps: FlowDeps;
  /** Called with each response's X-Instance (`lb`). */
  onInstance?: (instance: string) => void;
}

interface Totals {
  requests: number;
  failed: number;
  iterations: number;
}

/** Running totals for progress lines. */
export const totals: Totals = { requests: 0, failed: 0, iterations: 0 };

function header(headers: Record<string, unknown> | undefined, name: string): string | undefined {
  for (const [k, v] of Object.entries(headers ?? {}))
    if (k.toLowerCase() === name) return Array.isArray(v) ? String(v[0]) : String(v);
  return undefined;
}

function parse(body: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(body);
    return typeof v === 'object' && v !== null && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

function recordHttp(metrics: Metrics, flow: Flow, route: string, status: number, ms: number): void {
  const shed = flow.shedding && route === ROUTES.placeOrder && status === 429;
  const failed = status >= 400 && !shed;
  metrics.trend('http_req_duration', ms, { name: route });
  metrics.rate('http_req_failed', failed, { name: route });
  metrics.count('http_reqs', 1, { name: route });
  totals.requests++;
  if (failed) totals.failed++;
}

/** Iterations are numbered across all connections: sessions and symbols go round-robin. */
let iteration = 0;

/** The flow as autocannon requests. */
export function requestsOf(driver: Driver, flow: Flow): autocannon.Request[] {
  const { deps } = driver;
  const last = flow.steps.length - 1;
  const endIteration = () => {
    deps.metrics.count('iterations');
    totals.iterations++;
  };
  return flow.steps.map((step, i) => ({
    method: step.method,
    setupRequest: (request: autocannon.Request, context: object) => {
      const ctx = context as FlowContext;
      if (i === 0) {
        ctx.n = iteration++;
        const session = deps.sessions[ctx.n % deps.sessions.length];
        if (!session) throw new Error('no sessions');
        ctx.session = session;
      }
      const built = step.build(ctx);
      // A falsy answer makes autocannon start the sequence over (never for the first step).
      if (!built) return null as unknown as autocannon.Request;
      const headers: Record<string, string> = { accept: 'application/json' };
      if (built.auth !== false) headers.authorization = `Bearer ${ctx.session.token}`;
      if (built.body !== undefined) headers['content-type'] = 'application/json';
      ctx.sentAt = performance.now();
      return {
        ...request,
        method: step.method,
        path: built.path,
        headers,
        body: built.body === undefined ? '' : JSON.stringify(built.body),
      };
    },
    onResponse: (status: number, body: string, context: object, headers?: Record<string, unknown>) => {
      const ctx = context as FlowContext;
      recordHttp(deps.metrics, flow, step.route, status, performance.now() - ctx.sentAt);
      const instance = header(headers, 'x-instance');
      if (driver.onInstance) driver.onInstance(instance ?? '');
      const ok = step.handle(status, parse(body), ctx);
      if (!ok) {
        // The next step's build sees no order id and ends the iteration.
        ctx.orderId = undefined;
        endIteration();
      } else if (i === last) endIteration();
    },
  }));
}

interface Running {
  instance: autocannon.Instance;
  connections: number;
  done: Promise<autocannon.Result>;
}

function start(driver: Driver, flow: Flow, opts: Omit<autocannon.Options, 'url'>): Running {
  let instance: autocannon.Instance | undefined;
  const done = new Promise<autocannon.Result>((resolve, reject) => {
    instance = autocannon(
      {
        url: driver.base,
        timeout: REQUEST_TIMEOUT_S,
        requests: requestsOf(driver, flow),
        initialContext: {},
        ...opts,
      },
      (err: unknown, result: autocannon.Result) =>
        err
          ? reject(err instanceof Error ? err : new Error('autocannon failed', { cause: err }))
          : resolve(result),
    );
  });
  if (!instance) throw new Error('autocannon did not start');
  return { instance, connections: opts.connections ?? 1, done };
}

/** Connection errors and timeouts: failed requests without a route. */
function recordErrors(metrics: Metrics, results: autocannon.Result[]): void {
  for (const r of results) {
    for (let i = 0; i < r.errors; i++) metrics.rate('http_req_failed', true, { name: 'transport' });
    totals.failed += r.errors;
  }
}

/** per-vu-iterations: `vus` connections, `iterations` flows each. */
export async function runIterations(
  driver: Driver,
  flow: Flow,
  vus: number,
  iterations: number,
): Promise<void> {
  const run = start(driver, flow, { connections: vus, amount: vus * iterations * flow.steps.length });
  recordErrors(driver.deps.metrics, [await run.done]);
}

/** constant-arrival-rate: `rate` flows/s for `seconds`, on up to `maxConnections` connections. */
export async function runFixedRate(
  driver: Driver,
  flow: Flow,
  opts: { rate: number; seconds: number; maxConnections: number },
): Promise<void> {
  const overallRate = Math.max(1, Math.round(opts.rate * flow.steps.length));
  const run = start(driver, flow, {
    connections: Math.max(1, Math.min(opts.maxConnections, overallRate)),
    overallRate,
    duration: opts.seconds,
  });
  recordErrors(driver.deps.metrics, [await run.done]);
}

/**
 * A ramp: every second the pool gets `target(t)` connections, each sending at most `perConnectionRate`
 * requests per second; instances are added for growth and the newest stopped for shrinking.
 */
export async function runRamp(
  driver: Driver,
  flow: Flow,
  opts: {
    start: number;
    stages: readonly Stage[];
    seconds: number;
    perConnectionRate: number;
    onTick?: (t: number, target: number) => void;
  },
): Promise<void> {
  const pool: Running[] = [];
  const finished: Promise<autocannon.Result>[] = [];
  const size = () => pool.reduce((n, r) => n + r.connections, 0);
  const resize = (target: number) => {
    while (pool.length > 0 && size() > target) {
      const r = pool.pop();
      r?.instance.stop();
    }
    const missing = target - size();
    if (missing > 0) {
      const r = start(driver, flow, {
        connections: missing,
        connectionRate: opts.perConnectionRate,
        duration: opts.seconds + 10,
      });
      pool.push(r);
      finished.push(r.done);
    }
  };
  const t0 = performance.now();
  for (;;) {
    const t = (performance.now() - t0) / 1000;
    if (t >= opts.seconds) break;
    const target = Math.round(rampTarget(opts.start, opts.stages, t));
    resize(target);
    opts.onTick?.(t, target);
    await new Promise((r) => setTimeout(r, 1000));
  }
  for (const r of pool) r.instance.stop();
  recordErrors(driver.deps.metrics, await Promise.all(finished));
}
