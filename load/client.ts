/**
 * The BrokerX client of the scripts (the market simulator, the Node load generator, benchmarks): the
 * typed client generated from the api's OpenAPI document (openapi-fetch over load/api-schema.ts, made by
 * `npm run openapi:generate`), so the project's own tools exercise the contract; plus Mailpit reads and
 * the few calls they share. Users are set up by load/scenarios/users.ts.
 */
import { randomUUID } from 'node:crypto';
import createClient, { type Client } from 'openapi-fetch';
import type { components, paths } from './api-schema.js';

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

/** The typed client of one api (openapi-fetch over the generated load/api-schema.ts). */
export type Api = Client<paths>;
const clients = new Map<string, Api>();
export function api(base: string): Api {
  let client = clients.get(base);
  if (!client) clients.set(base, (client = createClient<paths>({ baseUrl: base })));
  return client;
}

/** The headers of a call made as `s`. */
export const bearer = (s: Pick<Session, 'token'>) => ({ authorization: `Bearer ${s.token}` });

/** The body of a successful answer, or ApiError with the status and the problem. */
export async function ok<T>(request: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const { data, error, response } = await request;
  if (!response.ok) throw new ApiError(response.status, error);
  return data as T;
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
  await ok(
    api(ep.api).POST('/api/v1/deposits', {
      params: { header: { 'idempotency-key': randomUUID() } },
      headers: bearer(s),
      body: { amount, currency: 'USD' },
    }),
  );
}

export type OrderInput = components['schemas']['PlaceOrder']['order'];

export function placeOrder(ep: Endpoints, s: Session, order: OrderInput) {
  return ok(api(ep.api).POST('/api/v1/orders', { headers: bearer(s), body: { order } }));
}

export function cancelOrder(ep: Endpoints, s: Session, orderId: string) {
  return ok(
    api(ep.api).DELETE('/api/v1/orders/{id}', { params: { path: { id: orderId } }, headers: bearer(s) }),
  );
}

export function quote(ep: Endpoints, symbol: string) {
  return ok(api(ep.api).GET('/api/v1/market/{symbol}', { params: { path: { symbol } } }));
}
