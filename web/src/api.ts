/**
 * The public REST api as the page uses it: JSON in and out, the bearer token from the session, and
 * problem+json failures as `ApiProblem` with the api's validation messages sorted by field.
 */

export interface Problem {
  status: number;
  code: string;
  message: string;
  errors: string[];
  /** The api's Retry-After header, in seconds (a 429 or 503 says when to try again). */
  retryAfterSeconds?: number;
}

/** "order.price: must be positive": the schema's messages name their input. */
const NAMED = /^([a-z_.]+\.)?([a-z_]+): (.*)$/;
/**
 * The order checks behind the schema (tick, band, lot, time in force) say which input they refuse in
 * words: "Stop price must be between 336.00 and 504.00 (USD)". A headline ("Price is outside the allowed
 * band", the problem's message) followed by such a reason names no input itself: the reason does.
 */
const NAMED_IN_WORDS: readonly (readonly [RegExp, string])[] = [
  [/^Stop price\b/, 'stop_price'],
  [/^Price\b/, 'price'],
  [/^Quantity\b/, 'quantity'],
  [/^Time in force\b/, 'time_in_force'],
];

/**
 * A refused request. `fields` holds messages per input name ("order.price: x" as `x` under `price`,
 * "Stop price is not a multiple of the tick size" as it is under `stop_price`).
 */
export class ApiProblem extends Error {
  readonly status: number;
  readonly code: string;
  readonly errors: string[];
  readonly retryAfterSeconds: number | undefined;
  readonly fields: Record<string, string[]>;
  /** Messages that name no field. */
  readonly general: string[];

  constructor(p: Problem) {
    super(p.message);
    this.status = p.status;
    this.code = p.code;
    this.errors = p.errors;
    this.retryAfterSeconds = p.retryAfterSeconds;
    this.fields = {};
    this.general = [];
    const headline = p.errors.length > 1 ? p.message : undefined;
    for (const e of p.errors) {
      const m = NAMED.exec(e);
      const inWords = e === headline ? undefined : NAMED_IN_WORDS.find(([re]) => re.test(e))?.[1];
      if (m) (this.fields[m[2]!] ??= []).push(m[3]!);
      else if (inWords) (this.fields[inWords] ??= []).push(e);
      else this.general.push(e);
    }
  }

  /** What the form shows above its button: the refusal's headline and reasons that no field carries. */
  formMessage(): string | undefined {
    // The headline is often a message too ("Insufficient funds"): said once.
    const rest = this.general.filter((e) => e !== this.message).join('; ');
    if (Object.keys(this.fields).length) return rest || undefined;
    return rest ? `${this.message}: ${rest}` : this.message;
  }
}

/** The bearer token for a request (it may wait for a refresh the session is about to make). */
export type TokenSource = () => string | undefined | Promise<string | undefined>;

export interface RequestOptions {
  body?: unknown;
  headers?: Record<string, string>;
  /** Send no bearer token even when logged in. */
  anonymous?: boolean;
  /**
   * The request checks a password the user typed (a password change): its 401 says that password is
   * wrong, so it is shown like any refusal and does not end the session.
   */
  checksPassword?: boolean;
}

export class Api {
  constructor(
    private readonly token: TokenSource,
    private readonly onUnauthorized: () => void = () => {},
  ) {}

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
    const token = opts.anonymous ? undefined : await this.token();
    if (token) headers.authorization = `Bearer ${token}`;
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(path, {
        method,
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        credentials: 'same-origin',
      });
    } catch {
      throw new ApiProblem({
        status: 0,
        code: 'network',
        message: 'The server cannot be reached',
        errors: [],
      });
    }
    const text = await res.text();
    const json = (text ? safeJson(text) : {}) as Record<string, unknown>;
    if (!res.ok) {
      if (res.status === 401 && token && !opts.checksPassword) this.onUnauthorized();
      throw new ApiProblem({
        status: res.status,
        code: typeof json.code === 'string' ? json.code : 'error',
        message:
          typeof json.detail === 'string'
            ? json.detail
            : typeof json.message === 'string'
              ? json.message
              : res.statusText,
        errors: Array.isArray(json.errors) ? json.errors.map(String) : [],
        retryAfterSeconds: Number(res.headers.get('retry-after')) || undefined,
      });
    }
    return json as T;
  }

  get<T>(path: string, opts?: RequestOptions) {
    return this.request<T>('GET', path, opts);
  }

  post<T>(path: string, body?: unknown, opts?: RequestOptions) {
    return this.request<T>('POST', path, { ...opts, body });
  }

  delete<T>(path: string, opts?: RequestOptions) {
    return this.request<T>('DELETE', path, opts);
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return {};
  }
}

/** A random UUID (v4) for idempotency keys, also where `crypto.randomUUID` is missing (plain http). */
export function uuid(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * What makes a form's request idempotent at the api (the Idempotency-Key of a deposit, a replace or a
 * cancel, an order's client_order_id): the same for every retry of the same input, so a retry after a
 * lost answer (no connection, a 5xx) is the first request again and the api carries it out once. A new
 * one once the api has answered (done, or refused with a 4xx other than 409 idempotency_in_progress,
 * which says the first request still runs) and whenever the input changes (`renew`).
 */
export class RetryKey {
  value = uuid();
  private body: { value: unknown } | undefined;

  renew(): void {
    this.value = uuid();
    this.body = undefined;
  }

  /**
   * The body sent under this key: `read()` at its first send, the same for its retries (the api answers
   * the key with another body 422). The page may have read newer data since: an order's version, moved
   * by the request whose answer was lost.
   */
  keep<B>(read: () => B): B {
    this.body ??= { value: read() };
    return this.body.value as B;
  }

  async send<T>(request: (key: string) => Promise<T>): Promise<T> {
    try {
      const answer = await request(this.value);
      this.renew();
      return answer;
    } catch (err) {
      if (
        err instanceof ApiProblem &&
        err.status >= 400 &&
        err.status < 500 &&
        err.code !== 'idempotency_in_progress'
      )
        this.renew();
      throw err;
    }
  }
}

// ---- shapes the page reads (a subset of the OpenAPI document at /openapi.json) ----------------------

export interface Tokens {
  access_token: string;
  expires_in: number;
  refresh_token: string;
  user_id: string;
  account_id: string;
  email: string;
}

export interface LoginChallenge {
  mfa_method: 'email' | 'totp';
  message: string;
}

export interface Position {
  symbol: string;
  quantity: number;
  available: number;
  reserved: number;
}

export interface Portfolio {
  account_id: string;
  balances_decimal: { available: string; reserved: string; total: string };
  positions: Position[];
}

export interface Order {
  id: string;
  client_order_id: string;
  symbol: string;
  order_type: string;
  direction: 'buy' | 'sell';
  quantity: number;
  price: number | null;
  /** Stop and stop-limit orders: the trigger price. */
  stop_price: number | null;
  triggered_at: string | null;
  time_in_force: string;
  status: string;
  filled_quantity: number;
  average_price: number | null;
  lock_version: number;
  reject_reason: string | null;
  created_at: string;
  updated_at: string;
}

export interface Execution {
  execution_id: string;
  trade_id: string;
  order_id: string;
  symbol: string;
  direction: 'buy' | 'sell';
  quantity: number;
  price: number;
  liquidity: string;
  executed_at: string;
}

/** DELETE /api/v1/orders: what was cancelled, and what could not be (filled meanwhile, say). */
export interface CancelAllResult {
  cancelled: Order[];
  failed: { order_id: string; code: string; message: string }[];
}

/** One step of GET /api/v1/orders/{id}/timeline; its facts by type (amounts as decimal text). */
export interface TimelineEvent {
  at: string;
  type: string;
  [fact: string]: string | number | null;
}

export interface Level {
  price: number;
  quantity: number;
  orders: number;
}

export interface Market {
  symbol: string;
  quote: { bid: Level | null; ask: Level | null };
  depth: { bids: Level[]; asks: Level[] };
  reference_price: number;
}

export interface Trade {
  id: string;
  price: number;
  quantity: number;
  executed_at: string;
}
