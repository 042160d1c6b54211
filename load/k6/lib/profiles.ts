/**
 * What the k6 scripts (load/k6/*.ts) and the Node load generator (load/run.ts) share: the load profile of
 * every scenario, the order flow's shape, the route names requests are tagged with, and the SLOs as k6
 * threshold expressions. Plain TypeScript without imports, so both k6 (`./lib/profiles.ts`) and Node
 * (`../k6/lib/profiles.js`) load it.
 */

export const SCENARIOS = ['smoke', 'load', 'stress', 'spike', 'lb', 'ws'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export const isScenario = (name: unknown): name is ScenarioName =>
  typeof name === 'string' && (SCENARIOS as readonly string[]).includes(name);

// ---- load profiles (k6 executor options; the Node generator drives the same numbers) ------------------

export interface Stage {
  duration: string;
  target: number;
}

export type Profile =
  | { executor: 'per-vu-iterations'; vus: number; iterations: number; maxDuration: string }
  | { executor: 'constant-vus'; vus: number; duration: string }
  | { executor: 'ramping-vus'; startVUs: number; stages: Stage[]; gracefulRampDown: string }
  | {
      executor: 'constant-arrival-rate';
      rate: number;
      timeUnit: '1s';
      duration: string;
      preAllocatedVUs: number;
      maxVUs: number;
    }
  | {
      executor: 'ramping-arrival-rate';
      startRate: number;
      timeUnit: '1s';
      stages: Stage[];
      preAllocatedVUs: number;
      maxVUs: number;
    };

/**
 * The profiles. Each stays under 15 minutes: sessions are made once in setup and access tokens live 900 s
 * (ACCESS_TOKEN_TTL_SECONDS). Arrival rates count iterations (one order flow = place, then cancel).
 */
export const PROFILES = {
  /** Every route once per iteration, one user, a few iterations: does it work at all? */
  smoke: { executor: 'per-vu-iterations', vus: 1, iterations: 3, maxDuration: '1m' },
  /** Sustained order flow at a constant arrival rate. */
  load: {
    executor: 'constant-arrival-rate',
    rate: 20,
    timeUnit: '1s',
    duration: '5m',
    preAllocatedVUs: 20,
    maxVUs: 100,
  },
  /** Closed model, 0 -> 100 -> 300 -> 500 VUs, each holding every step; a VU thinks 1 s between flows. */
  stress: {
    executor: 'ramping-vus',
    startVUs: 0,
    stages: [
      { duration: '1m', target: 100 },
      { duration: '2m', target: 100 },
      { duration: '1m', target: 300 },
      { duration: '2m', target: 300 },
      { duration: '1m', target: 500 },
      { duration: '2m', target: 500 },
      { duration: '1m', target: 0 },
    ],
    gracefulRampDown: '30s',
  },
  /** Open model: 5 flows/s, a jump to 100/s within 10 s, held for a minute, then back. */
  spike: {
    executor: 'ramping-arrival-rate',
    startRate: 5,
    timeUnit: '1s',
    stages: [
      { duration: '30s', target: 5 },
      { duration: '10s', target: 100 },
      { duration: '1m', target: 100 },
      { duration: '10s', target: 5 },
      { duration: '1m', target: 5 },
    ],
    preAllocatedVUs: 50,
    maxVUs: 400,
  },
  /** Authenticated reads through the load balancer at a constant rate; X-Instance counted per response. */
  lb: {
    executor: 'constant-arrival-rate',
    rate: 50,
    timeUnit: '1s',
    duration: '1m',
    preAllocatedVUs: 20,
    maxVUs: 100,
  },
  /** Feed subscribers on /ws, each session lasting WS_SESSION_SECONDS ... */
  ws: { executor: 'constant-vus', vus: 50, duration: '1m' },
} as const satisfies Record<ScenarioName, Profile>;

/** ... while this flow places and cancels orders, so that execution reports reach the subscribers. */
export const WS_ORDER_PROFILE = {
  executor: 'constant-arrival-rate',
  rate: 5,
  timeUnit: '1s',
  duration: '1m',
  preAllocatedVUs: 5,
  maxVUs: 20,
} as const satisfies Profile;

/** A feed session: connect, subscribe, listen this long, close; a subscriber then starts the next one. */
export const WS_SESSION_SECONDS = 30;

/** Sessions made in setup, shared round-robin by VUs (registration allows 20 per address and hour). */
export const DEFAULT_USERS: Record<ScenarioName, number> = {
  smoke: 1,
  load: 10,
  stress: 10,
  spike: 10,
  lb: 10,
  ws: 10,
};

/** The feed allows this many sockets per account on one api process (WS_MAX_CONNECTIONS_PER_ACCOUNT). */
export const WS_SOCKETS_PER_ACCOUNT = 20;

/** A stress VU sleeps this long between two order flows (k6 `sleep`; Node paces each connection). */
export const THINK_SECONDS = 1;

// ---- durations and overrides ------------------------------------------------------------------------

/** Seconds of a k6 duration string: `90s`, `1m30s`, `2h`, `500ms`, or a bare number of seconds. */
export function seconds(duration: string): number {
  const text = duration.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  let total = 0;
  let consumed = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const unit = m[2] === 'ms' ? 0.001 : m[2] === 's' ? 1 : m[2] === 'm' ? 60 : 3600;
    total += Number(m[1]) * unit;
    consumed += m[0].length;
  }
  if (consumed === 0 || consumed !== text.length) throw new Error(`not a duration: "${duration}"`);
  return total;
}

/** A duration string of whole seconds (at least 1 s). */
export const durationOf = (s: number): string => `${Math.max(1, Math.round(s))}s`;

/** Total length of a profile (without graceful stops). */
export function profileSeconds(p: Profile): number {
  switch (p.executor) {
    case 'per-vu-iterations':
      return seconds(p.maxDuration);
    case 'constant-vus':
    case 'constant-arrival-rate':
      return seconds(p.duration);
    case 'ramping-vus':
    case 'ramping-arrival-rate':
      return p.stages.reduce((sum, s) => sum + seconds(s.duration), 0);
  }
}

export interface Overrides {
  /** Total duration: constant profiles run this long, ramps are compressed or stretched to it. */
  duration?: string;
  /** Arrival rate (iterations/s): the constant rate, or the peak of a ramp (other targets scale along). */
  rate?: number;
  /** VUs: the constant count, or the peak of a ramp (other targets scale along). */
  vus?: number;
  /** Iterations per VU (smoke). */
  iterations?: number;
}

/** Stages stretched in time (cumulative rounding keeps the total) and scaled in target (a non-zero one stays >= 1). */
function scaleStages(stages: readonly Stage[], timeFactor: number, targetFactor: number): Stage[] {
  let end = 0;
  let rounded = 0;
  return stages.map((s) => {
    end += seconds(s.duration) * timeFactor;
    const length = Math.round(end) - rounded;
    rounded += length;
    const target = s.target === 0 ? 0 : Math.max(1, Math.round(s.target * targetFactor));
    return { duration: `${length}s`, target };
  });
}

const peak = (stages: readonly Stage[], start: number) => Math.max(start, ...stages.map((s) => s.target));

/** A profile with the DURATION / RATE / VUS overrides applied, the same way in k6 and in Node. */
export function applyOverrides(p: Profile, o: Overrides): Profile {
  const d = o.duration === undefined ? undefined : seconds(o.duration);
  switch (p.executor) {
    case 'per-vu-iterations':
      return { ...p, vus: o.vus ?? p.vus, iterations: o.iterations ?? p.iterations };
    case 'constant-vus':
      return { ...p, vus: o.vus ?? p.vus, duration: d === undefined ? p.duration : durationOf(d) };
    case 'constant-arrival-rate': {
      const rate = o.rate ?? p.rate;
      return {
        ...p,
        rate,
        duration: d === undefined ? p.duration : durationOf(d),
        preAllocatedVUs: Math.max(1, Math.round((p.preAllocatedVUs * rate) / p.rate)),
        maxVUs: Math.max(1, Math.round((p.maxVUs * rate) / p.rate)),
      };
    }
    case 'ramping-vus': {
      const time = d === undefined ? 1 : d / profileSeconds(p);
      const top = peak(p.stages, p.startVUs);
      const factor = o.vus === undefined || top === 0 ? 1 : o.vus / top;
      return { ...p, startVUs: Math.round(p.startVUs * factor), stages: scaleStages(p.stages, time, factor) };
    }
    case 'ramping-arrival-rate': {
      const time = d === undefined ? 1 : d / profileSeconds(p);
      const top = peak(p.stages, p.startRate);
      const factor = o.rate === undefined || top === 0 ? 1 : o.rate / top;
      return {
        ...p,
        startRate: Math.max(1, Math.round(p.startRate * factor)),
        stages: scaleStages(p.stages, time, factor),
        preAllocatedVUs: Math.max(1, Math.round(p.preAllocatedVUs * factor)),
        maxVUs: Math.max(1, Math.round(p.maxVUs * factor)),
      };
    }
  }
}

/** The target of a ramp `t` seconds in, interpolated linearly as k6's ramping executors do. */
export function rampTarget(start: number, stages: readonly Stage[], t: number): number {
  let from = start;
  let at = 0;
  for (const s of stages) {
    const len = seconds(s.duration);
    if (t < at + len) return len === 0 ? s.target : from + ((s.target - from) * (t - at)) / len;
    at += len;
    from = s.target;
  }
  return from;
}

// ---- the order flow ---------------------------------------------------------------------------------

/**
 * Every listed instrument (db/migrations/0001_seed.sql, 0019_instrument_nvda.sql); flows cycle through
 * them. With compose's two matching shards NVDA is shard 0's only one, the others are shard 1's.
 */
export const SYMBOLS = ['AAPL', 'MSFT', 'TSLA', 'AMZN', 'GOOG', 'NVDA'] as const;

/** Each session deposits this much in setup (one deposit, at most 1,000,000.00). */
export const DEPOSIT_AMOUNT = '100000.00';

/**
 * Buy limits go in at this share of the reference price (basis points): inside the 20 % price band, far
 * enough below any ask that they rest (status `working`) until the flow cancels them. Nothing fills, so
 * a run leaves the books and balances as it found them.
 */
export const RESTING_PRICE_BPS = 8500;
/** The smoke flow replaces the price with this share. */
export const REPLACE_PRICE_BPS = 8400;

/**
 * Exact integer cents from a JSON amount (a number or a decimal string with at most two decimals). The
 * digits are read as integers, never as a float; 13 whole digits at most keep the cents a safe integer.
 */
export function centsOf(value: unknown): number {
  const m = /^(\d{1,13})(?:\.(\d{1,2}))?$/.exec(String(value));
  if (!m) throw new Error(`not an amount with at most two decimals and 13 digits: ${String(value)}`);
  return parseInt(m[1]!, 10) * 100 + parseInt((m[2] ?? '').padEnd(2, '0'), 10);
}

/** A price as a decimal string with two places: `bps` of a reference price in cents, integers only. */
export function priceAt(referenceCents: number, bps: number): string {
  const cents = Math.floor((referenceCents * bps) / 10_000);
  return `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, '0')}`;
}

export interface OrderBody {
  order: {
    symbol: string;
    order_type: 'limit';
    direction: 'buy';
    quantity: number;
    price: string;
    time_in_force: 'GTC';
    client_order_id: string;
  };
}

/** The n-th order of a flow: symbol and quantity cycle with n; prices follow the reference prices (cents). */
export function orderBody(n: number, references: Record<string, number>, clientOrderId: string): OrderBody {
  const symbol = SYMBOLS[n % SYMBOLS.length] ?? 'AAPL';
  const reference = references[symbol] ?? 10_000;
  return {
    order: {
      symbol,
      order_type: 'limit',
      direction: 'buy',
      quantity: 1 + (n % 5),
      price: priceAt(reference, RESTING_PRICE_BPS),
      time_in_force: 'GTC',
      client_order_id: clientOrderId,
    },
  };
}

/** Users are the same across runs (log in if they exist, register otherwise): `<prefix>-<i>@<domain>`. */
export const userEmail = (prefix: string, i: number) => `${prefix}-${i}@load.brokerx.test`;

// ---- routes and SLOs --------------------------------------------------------------------------------

/** The `name` tag of every request: one time series per route, whatever the ids in the URL. */
export const ROUTES = {
  health: 'GET /health',
  register: 'POST /api/v1/clients/register',
  verify: 'GET /api/v1/clients/verify',
  login: 'POST /api/v1/auth/login',
  verifyMfa: 'POST /api/v1/auth/verify_mfa',
  deposit: 'POST /api/v1/deposits',
  portfolio: 'GET /api/v1/portfolio',
  market: 'GET /api/v1/market/:symbol',
  placeOrder: 'POST /api/v1/orders',
  getOrder: 'GET /api/v1/orders/:id',
  replaceOrder: 'POST /api/v1/orders/:id/replace',
  cancelOrder: 'POST /api/v1/orders/:id/cancel',
  deleteOrder: 'DELETE /api/v1/orders/:id',
} as const;
export type Route = (typeof ROUTES)[keyof typeof ROUTES];

/** Custom metrics, named alike in k6 and in Node. */
export const METRICS = {
  /** Rate: a POST /api/v1/orders answered 429 (shed by MAX_INFLIGHT_ORDERS or an account's share of it). */
  ordersShed: 'orders_shed',
  /** Rate, tagged `instance`: one sample per response and expected instance, true when it answered. */
  instanceShare: 'lb_instance_share',
  /** Trend (ms): socket opened until the `welcome` frame. */
  feedConnect: 'feed_connect_ms',
  /** Trend (ms): `subscribe` sent until `subscribed` came back. */
  feedSubscribe: 'feed_subscribe_ms',
  /** Trend (ms): an account event's `ts` until its frame arrived. */
  feedDelivery: 'feed_delivery_ms',
  /** Rate: a feed session got `welcome` and `subscribed`. */
  feedSessionOk: 'feed_session_ok',
} as const;

export type Thresholds = Record<string, string[]>;

const latency = (route: Route, p95: number, p99: number): Thresholds => ({
  [`http_req_duration{name:${route}}`]: [`p(95)<${p95}`, `p(99)<${p99}`],
});

/** The order ACK (the saga answers once the matching engine accepted the order) and its cancel. */
const orderFlowSlo = (p95: number, p99: number): Thresholds => ({
  ...latency(ROUTES.placeOrder, p95, p99),
  ...latency(ROUTES.deleteOrder, p95, p99),
});

/**
 * The SLOs of each scenario, as k6 thresholds. `http_req_failed` counts 5xx, 4xx and transport errors;
 * under stress and spike a 429 (load shedding, with Retry-After) is not a failure but counts in
 * `orders_shed`, which has its own budget. `instances`: the api instances `lb` expects.
 */
export function thresholdsFor(scenario: ScenarioName, instances: readonly string[] = []): Thresholds {
  const base: Thresholds = { http_req_failed: ['rate<0.01'], checks: ['rate>0.99'] };
  switch (scenario) {
    case 'smoke':
      return {
        ...base,
        ...latency(ROUTES.health, 200, 500),
        ...latency(ROUTES.market, 200, 500),
        ...latency(ROUTES.portfolio, 200, 500),
        ...latency(ROUTES.getOrder, 200, 500),
        ...latency(ROUTES.placeOrder, 500, 1000),
        ...latency(ROUTES.replaceOrder, 500, 1000),
        ...latency(ROUTES.cancelOrder, 500, 1000),
      };
    case 'load':
      return { ...base, ...orderFlowSlo(500, 1000) };
    case 'stress':
      return { ...base, [METRICS.ordersShed]: ['rate<0.10'], ...orderFlowSlo(2000, 5000) };
    case 'spike':
      return { ...base, [METRICS.ordersShed]: ['rate<0.05'], ...orderFlowSlo(1500, 3000) };
    case 'lb': {
      const shares: Thresholds = {};
      for (const id of instances)
        shares[`${METRICS.instanceShare}{instance:${id}}`] = ['rate>=0.25', 'rate<=0.40'];
      return { ...base, ...latency(ROUTES.portfolio, 200, 500), ...shares };
    }
    case 'ws':
      return {
        ...base,
        ...orderFlowSlo(500, 1000),
        [METRICS.feedConnect]: ['p(95)<500'],
        [METRICS.feedSubscribe]: ['p(95)<250'],
        [METRICS.feedDelivery]: ['p(95)<1000', 'p(99)<2000'],
        [METRICS.feedSessionOk]: ['rate>0.99'],
      };
  }
}

/** Which scenarios treat a 429 on POST /api/v1/orders as shedding rather than failure. */
export const shedsLoad = (scenario: ScenarioName) => scenario === 'stress' || scenario === 'spike';

// ---- reporting --------------------------------------------------------------------------------------

export interface ThresholdResult {
  /** `http_req_duration{name:POST /api/v1/orders}` */
  metric: string;
  /** `p(95)<500` */
  expression: string;
  ok: boolean;
  /** The value the expression was judged on, when known. */
  actual?: number;
}

/** PASS/FAIL lines, one per threshold, then a verdict: the same text from k6 and from Node. */
export function formatThresholds(scenario: string, results: readonly ThresholdResult[]): string {
  const lines = results.map((r) => {
    const actual =
      r.actual === undefined || !Number.isFinite(r.actual) ? '' : `  (actual ${formatNumber(r.actual)})`;
    return `  ${r.ok ? 'PASS' : 'FAIL'}  ${r.metric}  ${r.expression}${actual}`;
  });
  const failed = results.filter((r) => !r.ok).length;
  const verdict =
    failed === 0
      ? `${scenario}: all ${results.length} SLOs met`
      : `${scenario}: ${failed} of ${results.length} SLOs failed`;
  return ['SLOs', ...lines, verdict].join('\n');
}

export const formatNumber = (n: number) =>
  Number.isInteger(n) ? String(n) : n < 1 ? n.toFixed(4) : n.toFixed(2);

/** A share as a percentage with two decimals: 0.0123 -> `1.23 %`. */
export const formatPercent = (share: number) => `${(100 * share).toFixed(2)} %`;

/** `p(95)<500` -> { agg: 'p(95)', op: '<', value: 500 }. */
export function parseExpression(expression: string): { agg: string; op: string; value: number } {
  const m = /^\s*([a-z]+(?:\(\d+(?:\.\d+)?\))?)\s*(<=|>=|==|===|!=|<|>)\s*(-?\d+(?:\.\d+)?)\s*$/.exec(
    expression,
  );
  if (!m?.[1] || !m[2] || !m[3]) throw new Error(`cannot parse threshold "${expression}"`);
  return { agg: m[1], op: m[2], value: Number(m[3]) };
}

export function compare(actual: number, op: string, value: number): boolean {
  switch (op) {
    case '<':
      return actual < value;
    case '<=':
      return actual <= value;
    case '>':
      return actual > value;
    case '>=':
      return actual >= value;
    case '!=':
      return actual !== value;
    default:
      return actual === value;
  }
}
