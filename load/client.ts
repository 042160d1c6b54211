/**
 * A small BrokerX HTTP client for scripts (the market simulator, the Node load generator, benchmarks):
 * calls, Mailpit reads, funding, orders and quotes. Users are set up by load/scenarios/users.ts.
 */
import { randomUUID } from 'node:crypto';

export interface Endpoints {
  api: string;
  mailpit: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(`HTTP ${status}: ${JSON.stringify(body)}`);
  }
}

export interface Session {
  email: string;
  token: string;
  accountId: string;
}

async function json(res: Response): Promise<unknown> {
  const text = await res.text();
  try {
    return text ? (JSON.parse(text) as unknown) : null;
  } catch {
    return text;
  }
}

export async function call<T = Record<string, unknown>>(
  base: string,
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<T> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${base}${path}`, {
    method,
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const body = await json(res);
  if (!res.ok) throw new ApiError(res.status, body);
  return body as T;
}

/** The text of the newest mail to `to` whose subject matches, polling Mailpit's API. */
export async function readMail(
  mailpit: string,
  to: string,
  subject: RegExp,
  after = 0,
  timeoutMs = 15_000,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const list = (await (
      await fetch(`${mailpit}/api/v1/search?query=${encodeURIComponent(`to:"${to}"`)}&limit=20`)
    ).json()) as {
      messages: { ID: string; Subject: string; Created: string }[];
    };
    const hit = list.messages.find((m) => subject.test(m.Subject) && Date.parse(m.Created) >= after);
    if (hit)
      return ((await (await fetch(`${mailpit}/api/v1/message/${hit.ID}`)).json()) as { Text: string }).Text;
    if (Date.now() > deadline) throw new Error(`no mail "${String(subject)}" to ${to}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function deposit(ep: Endpoints, s: Session, amount: string): Promise<void> {
  await call(ep.api, 'POST', '/api/v1/deposits', {
    token: s.token,
    body: { amount, currency: 'USD' },
    headers: { 'idempotency-key': randomUUID() },
  });
}

export interface OrderInput {
  symbol: string;
  order_type: 'market' | 'limit';
  direction: 'buy' | 'sell';
  quantity: number;
  price?: string;
  time_in_force?: 'DAY' | 'GTC' | 'IOC' | 'FOK';
  client_order_id?: string;
}

export function placeOrder(ep: Endpoints, s: Session, order: OrderInput) {
  return call<{ order_id: string; status: string; lock_version: number; filled_quantity: number }>(
    ep.api,
    'POST',
    '/api/v1/orders',
    {
      token: s.token,
      body: { order },
    },
  );
}

export function cancelOrder(ep: Endpoints, s: Session, orderId: string) {
  return call(ep.api, 'DELETE', `/api/v1/orders/${orderId}`, { token: s.token });
}

export function quote(ep: Endpoints, symbol: string) {
  return call<{
    quote: {
      bid: { price: number; price_exact: string } | null;
      ask: { price: number; price_exact: string } | null;
    };
    reference_price: number;
  }>(ep.api, 'GET', `/api/v1/market/${symbol}`);
}
