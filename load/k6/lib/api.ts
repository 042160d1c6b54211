/**
 * BrokerX through k6: requests tagged by route (`name`), checked, and the two flows the scenarios run:
 * the smoke walk over every route and the order flow (place a resting buy limit, then cancel it).
 */
import { check, sleep } from 'k6';
import exec from 'k6/execution';
import http, { type RefinedResponse, type ResponseType } from 'k6/http';
import { Rate } from 'k6/metrics';
import { BASE_URL } from './env.ts';
import { METRICS, orderBody, priceAt, REPLACE_PRICE_BPS, ROUTES, SYMBOLS } from './profiles.ts';

export interface Session {
  email: string;
  token: string;
  accountId: string;
}

/** What setup() hands every VU (serialized as JSON). */
export interface SetupData {
  /** Unique per run: client order ids and idempotency keys start with it. */
  runId: string;
  users: Session[];
  /** Reference price (dollars) per symbol, from GET /api/v1/market/:symbol. */
  references: Record<string, number>;
}

export type Response = RefinedResponse<ResponseType | undefined>;

const ordersShed = new Rate(METRICS.ordersShed);

export const jsonHeaders = { 'content-type': 'application/json' };
export const authHeaders = (s: Session) => ({ authorization: `Bearer ${s.token}` });

/** A field of a JSON response body, or undefined when the body is not JSON or lacks it. */
export function field(res: Response, path: string): unknown {
  try {
    return res.json(path) ?? undefined;
  } catch {
    return undefined;
  }
}

/** The session of the n-th iteration: VUs share the sessions round-robin. */
export const sessionFor = (data: SetupData, n: number): Session => {
  const s = data.users[n % data.users.length];
  if (!s) throw new Error('setup made no sessions');
  return s;
};

/** A client order id unique in this run (1-64 of [A-Za-z0-9._:-]). */
export const clientOrderId = (data: SetupData) =>
  `${data.runId}-${exec.vu.idInTest}-${exec.vu.iterationInInstance}`;

/**
 * The order flow: place a buy limit below the market (it rests), then cancel it with DELETE. With
 * `shedding`, a 429 on the placement is load shedding: counted in orders_shed, not checked as a failure,
 * and the virtual user waits as long as its Retry-After says.
 */
export function orderFlow(data: SetupData, shedding: boolean): void {
  const n = exec.scenario.iterationInTest;
  const session = sessionFor(data, n);
  const body = orderBody(n, data.references, clientOrderId(data));
  const placed = http.post(`${BASE_URL}/api/v1/orders`, JSON.stringify(body), {
    headers: { ...jsonHeaders, ...authHeaders(session) },
    tags: { name: ROUTES.placeOrder },
  });
  if (shedding) {
    ordersShed.add(placed.status === 429);
    if (placed.status === 429) {
      // A well-behaved client comes back when Retry-After says (the api spreads a crowd over seconds).
      sleep(Number(placed.headers['Retry-After'] ?? 1) || 1);
      return;
    }
  }
  const orderId = field(placed, 'order_id');
  const accepted = check(placed, {
    'order placed (201)': (r) => r.status === 201,
    'order rests (working)': (r) => field(r, 'status') === 'working',
  });
  if (!accepted || typeof orderId !== 'string') return;
  const cancelled = http.del(`${BASE_URL}/api/v1/orders/${orderId}`, null, {
    headers: authHeaders(session),
    tags: { name: ROUTES.deleteOrder },
  });
  check(cancelled, { 'order cancelled (200)': (r) => r.status === 200 });
}

/** The smoke walk: health, market data, portfolio, then one order placed, read, replaced and cancelled. */
export function smokeFlow(data: SetupData): void {
  const n = exec.scenario.iterationInTest;
  const session = sessionFor(data, n);
  const auth = { headers: authHeaders(session) };
  const symbol = SYMBOLS[n % SYMBOLS.length] ?? 'AAPL';

  check(http.get(`${BASE_URL}/health`, { tags: { name: ROUTES.health } }), {
    'health 200': (r) => r.status === 200 && field(r, 'status') === 'ok',
  });
  check(http.get(`${BASE_URL}/api/v1/market/${symbol}`, { tags: { name: ROUTES.market } }), {
    'market 200': (r) => r.status === 200 && typeof field(r, 'reference_price') === 'number',
  });
  check(http.get(`${BASE_URL}/api/v1/portfolio`, { ...auth, tags: { name: ROUTES.portfolio } }), {
    'portfolio 200': (r) => r.status === 200 && field(r, 'account_id') === session.accountId,
  });

  const body = orderBody(n, data.references, clientOrderId(data));
  const placed = http.post(`${BASE_URL}/api/v1/orders`, JSON.stringify(body), {
    headers: { ...jsonHeaders, ...authHeaders(session) },
    tags: { name: ROUTES.placeOrder },
  });
  const orderId = field(placed, 'order_id');
  const version = field(placed, 'lock_version');
  const ok = check(placed, {
    'order placed (201)': (r) => r.status === 201,
    'order rests (working)': (r) => field(r, 'status') === 'working',
  });
  if (!ok || typeof orderId !== 'string' || typeof version !== 'number') return;

  check(http.get(`${BASE_URL}/api/v1/orders/${orderId}`, { ...auth, tags: { name: ROUTES.getOrder } }), {
    'order read (200)': (r) => r.status === 200 && field(r, 'id') === orderId,
  });
  const price = priceAt(data.references[body.order.symbol] ?? 10_000, REPLACE_PRICE_BPS);
  const replaced = http.post(
    `${BASE_URL}/api/v1/orders/${orderId}/replace`,
    JSON.stringify({ order: { client_version: version, price } }),
    { headers: { ...jsonHeaders, ...authHeaders(session) }, tags: { name: ROUTES.replaceOrder } },
  );
  check(replaced, {
    'order replaced (200, version + 1)': (r) => r.status === 200 && field(r, 'lock_version') === version + 1,
  });
  const cancelled = http.post(
    `${BASE_URL}/api/v1/orders/${orderId}/cancel`,
    JSON.stringify({ client_version: version + 1 }),
    { headers: { ...jsonHeaders, ...authHeaders(session) }, tags: { name: ROUTES.cancelOrder } },
  );
  check(cancelled, {
    'order cancelled (200)': (r) => r.status === 200 && field(r, 'status') === 'cancelled',
  });
}
