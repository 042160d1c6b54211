/**
 * The request sequences the Node generator sends, the same as the k6 scripts' (load/k6/lib/api.ts): each
 * flow is a list of steps that autocannon sends in order on one connection; a step that fails ends the
 * iteration and the connection starts the next one.
 */
import type { Session } from '../client.js';
import {
  METRICS,
  orderBody,
  priceAt,
  REPLACE_PRICE_BPS,
  ROUTES,
  SYMBOLS,
  type Route,
} from '../k6/lib/profiles.js';
import type { Metrics } from './metrics.js';

/** One iteration's state (autocannon's per-connection context, reset when the sequence starts over). */
export interface FlowContext {
  n: number;
  session: Session;
  sentAt: number;
  orderId?: string;
  version?: number;
  symbol?: string;
}

export interface StepRequest {
  path: string;
  body?: unknown;
  /** Send the session's bearer token (default true). */
  auth?: boolean;
}

export interface Step {
  route: Route;
  method: 'GET' | 'POST' | 'DELETE';
  /** This step's request, or undefined to end the iteration (what it needs is missing). */
  build(ctx: FlowContext): StepRequest | undefined;
  /** Judge the response (checks) and keep what later steps need; false ends the iteration. */
  handle(status: number, body: Record<string, unknown> | undefined, ctx: FlowContext): boolean;
}

export interface Flow {
  name: string;
  steps: Step[];
  /** 429 on POST /api/v1/orders is load shedding (orders_shed), not a failure. */
  shedding: boolean;
}

export interface FlowDeps {
  metrics: Metrics;
  sessions: Session[];
  references: Record<string, number>;
  runId: string;
}

const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

function placeStep(deps: FlowDeps, shedding: boolean): Step {
  const { metrics } = deps;
  return {
    route: ROUTES.placeOrder,
    method: 'POST',
    build: (ctx) => {
      const body = orderBody(ctx.n, deps.references, `${deps.runId}-${ctx.n}`);
      ctx.symbol = body.order.symbol;
      return { path: '/api/v1/orders', body };
    },
    handle: (status, body, ctx) => {
      if (shedding) {
        metrics.rate(METRICS.ordersShed, status === 429);
        if (status === 429) return false;
      }
      const placed = metrics.check('order placed (201)', status === 201);
      const rests = metrics.check('order rests (working)', body?.status === 'working');
      ctx.orderId = str(body?.order_id);
      ctx.version = typeof body?.lock_version === 'number' ? body.lock_version : undefined;
      return placed && rests && ctx.orderId !== undefined;
    },
  };
}

/** Place a resting buy limit, then cancel it with DELETE. */
export function orderFlow(deps: FlowDeps, shedding: boolean): Flow {
  const { metrics } = deps;
  return {
    name: 'order flow',
    shedding,
    steps: [
      placeStep(deps, shedding),
      {
        route: ROUTES.deleteOrder,
        method: 'DELETE',
        build: (ctx) => (ctx.orderId ? { path: `/api/v1/orders/${ctx.orderId}` } : undefined),
        handle: (status) => metrics.check('order cancelled (200)', status === 200),
      },
    ],
  };
}

/** The smoke walk: health, market data, portfolio, then one order placed, read, replaced and cancelled. */
export function smokeFlow(deps: FlowDeps): Flow {
  const { metrics } = deps;
  const symbolOf = (ctx: FlowContext) => SYMBOLS[ctx.n % SYMBOLS.length] ?? 'AAPL';
  return {
    name: 'smoke walk',
    shedding: false,
    steps: [
      {
        route: ROUTES.health,
        method: 'GET',
        build: () => ({ path: '/health', auth: false }),
        handle: (status, body) => metrics.check('health 200', status === 200 && body?.status === 'ok'),
      },
      {
        route: ROUTES.market,
        method: 'GET',
        build: (ctx) => ({ path: `/api/v1/market/${symbolOf(ctx)}`, auth: false }),
        handle: (status, body) =>
          metrics.check('market 200', status === 200 && typeof body?.reference_price === 'number'),
      },
      {
        route: ROUTES.portfolio,
        method: 'GET',
        build: () => ({ path: '/api/v1/portfolio' }),
        handle: (status, body, ctx) =>
          metrics.check('portfolio 200', status === 200 && body?.account_id === ctx.session.accountId),
      },
      placeStep(deps, false),
      {
        route: ROUTES.getOrder,
        method: 'GET',
        build: (ctx) => (ctx.orderId ? { path: `/api/v1/orders/${ctx.orderId}` } : undefined),
        handle: (status, body, ctx) =>
          metrics.check('order read (200)', status === 200 && body?.id === ctx.orderId),
      },
      {
        route: ROUTES.replaceOrder,
        method: 'POST',
        build: (ctx) =>
          ctx.orderId && ctx.version !== undefined && ctx.symbol
            ? {
                path: `/api/v1/orders/${ctx.orderId}/replace`,
                body: {
                  order: {
                    client_version: ctx.version,
                    price: priceAt(deps.references[ctx.symbol] ?? 10_000, REPLACE_PRICE_BPS),
                  },
                },
              }
            : undefined,
        handle: (status, body, ctx) =>
          metrics.check(
            'order replaced (200, version + 1)',
            status === 200 && ctx.version !== undefined && body?.lock_version === ctx.version + 1,
          ),
      },
      {
        route: ROUTES.cancelOrder,
        method: 'POST',
        build: (ctx) =>
          ctx.orderId && ctx.version !== undefined
            ? { path: `/api/v1/orders/${ctx.orderId}/cancel`, body: { client_version: ctx.version + 1 } }
            : undefined,
        handle: (status, body) =>
          metrics.check('order cancelled (200)', status === 200 && body?.status === 'cancelled'),
      },
    ],
  };
}

/** `lb`: authenticated reads; which instance answered is recorded by the driver (X-Instance). */
export function readFlow(deps: FlowDeps): Flow {
  const { metrics } = deps;
  return {
    name: 'portfolio reads',
    shedding: false,
    steps: [
      {
        route: ROUTES.portfolio,
        method: 'GET',
        build: () => ({ path: '/api/v1/portfolio' }),
        handle: (status, body, ctx) =>
          metrics.check('portfolio 200', status === 200 && body?.account_id === ctx.session.accountId),
      },
    ],
  };
}
