/**
 * setup() for every scenario: check that the api and Mailpit answer, then make the sessions the VUs share,
 * the way a client gets one: register -> verification mail (Mailpit HTTP API) -> verify -> login -> MFA
 * code from the mail -> verify_mfa, then a deposit with an Idempotency-Key. Users are the same on every
 * run (`<USER_PREFIX>-<i>@load.brokerx.test`): an existing one just logs in, so repeated runs stay within
 * the api's registration limit (20 per address and hour, api/auth/rate-limit.ts).
 */
import { check, sleep } from 'k6';
import exec from 'k6/execution';
import http from 'k6/http';
import { authHeaders, field, jsonHeaders, type Response, type Session, type SetupData } from './api.ts';
import { BASE_URL, MAILPIT_URL, USER_PASSWORD, USER_PREFIX } from './env.ts';
import { centsOf, DEPOSIT_AMOUNT, orderBody, ROUTES, SYMBOLS, userEmail } from './profiles.ts';

const MAIL_TIMEOUT_MS = 15_000;

/** Abort the whole run (setup failures make every later number meaningless). */
function abort(message: string): never {
  exec.test.abort(message);
  throw new Error(message);
}

const RATE_LIMIT_HINT =
  'the api rate-limited setup (docs/load-testing.md): wait, lower USERS, use another USER_PREFIX, or raise AUTH_ADDRESS_LIMIT_MULTIPLIER on the api';

function expectStatus(res: Response, status: number, what: string): void {
  if (res.status === 429) abort(`${what}: HTTP 429: ${RATE_LIMIT_HINT}`);
  if (res.status !== status)
    abort(`${what}: expected HTTP ${status}, got ${res.status}: ${String(res.body).slice(0, 300)}`);
}

/** The api answers /health and Mailpit its API; otherwise stop before any load is sent. */
export function checkServices(): void {
  const health = http.get(`${BASE_URL}/health`, { tags: { name: ROUTES.health } });
  if (!check(health, { 'setup: api healthy': (r) => r.status === 200 }))
    abort(`${BASE_URL}/health answered ${health.status}`);
  const mail = http.get(`${MAILPIT_URL}/api/v1/info`, { tags: { name: 'mailpit info' } });
  if (!check(mail, { 'setup: mailpit up': (r) => r.status === 200 }))
    abort(`${MAILPIT_URL}/api/v1/info answered ${mail.status}`);
}

interface MailSummary {
  ID: string;
  Subject: string;
  Created: string;
}

/** The text of the newest mail to `to` with a matching subject that arrived after `afterMs`. */
function readMail(to: string, subject: RegExp, afterMs: number): string {
  const deadline = Date.now() + MAIL_TIMEOUT_MS;
  const query = encodeURIComponent(`to:"${to}"`);
  for (;;) {
    const list = http.get(`${MAILPIT_URL}/api/v1/search?query=${query}&limit=20`, {
      tags: { name: 'mailpit search' },
    });
    const messages = (field(list, 'messages') ?? []) as MailSummary[];
    const hit = messages.find((m) => subject.test(m.Subject) && Date.parse(m.Created) >= afterMs);
    if (hit) {
      const message = http.get(`${MAILPIT_URL}/api/v1/message/${hit.ID}`, {
        tags: { name: 'mailpit message' },
      });
      return String(field(message, 'Text') ?? '');
    }
    if (Date.now() > deadline) abort(`no mail "${String(subject)}" to ${to} within ${MAIL_TIMEOUT_MS} ms`);
    sleep(0.2);
  }
}

/** POST login; 401 (unknown) and 403 (not verified yet) are answers here, not failures. */
function login(email: string): Response {
  return http.post(`${BASE_URL}/api/v1/auth/login`, JSON.stringify({ email, password: USER_PASSWORD }), {
    headers: jsonHeaders,
    tags: { name: ROUTES.login },
    responseCallback: http.expectedStatuses(200, 401, 403),
  });
}

function register(email: string): void {
  const since = Date.now() - 1000;
  const body = {
    client: {
      email,
      first_name: 'Load',
      last_name: `K6 ${email.split('@')[0] ?? ''}`,
      password: USER_PASSWORD,
    },
  };
  const res = http.post(`${BASE_URL}/api/v1/clients/register`, JSON.stringify(body), {
    headers: jsonHeaders,
    tags: { name: ROUTES.register },
  });
  expectStatus(res, 201, `register ${email}`);
  const token = /token=([A-Za-z0-9_-]+)/.exec(readMail(email, /verify/i, since))?.[1];
  if (!token) abort(`no verification token in the mail to ${email}`);
  expectStatus(
    http.get(`${BASE_URL}/api/v1/clients/verify?token=${token}`, { tags: { name: ROUTES.verify } }),
    200,
    `verify ${email}`,
  );
}

/** A session for user i: log in (registering first when needed), MFA by mail, then a deposit. */
export function session(i: number, runId: string): Session {
  const email = userEmail(USER_PREFIX, i);
  let since = Date.now() - 1000;
  let res = login(email);
  if (res.status === 401 || res.status === 403) {
    register(email);
    since = Date.now() - 1000;
    res = login(email);
  }
  expectStatus(res, 200, `login ${email}`);
  const code = /\b(\d{6})\b/.exec(readMail(email, /code/i, since))?.[1];
  if (!code) abort(`no MFA code in the mail to ${email}`);
  const mfa = http.post(`${BASE_URL}/api/v1/auth/verify_mfa`, JSON.stringify({ email, code }), {
    headers: jsonHeaders,
    tags: { name: ROUTES.verifyMfa },
  });
  expectStatus(mfa, 200, `verify_mfa ${email}`);
  const token = String(field(mfa, 'token') ?? '');
  const portfolio = http.get(`${BASE_URL}/api/v1/portfolio`, {
    headers: { authorization: `Bearer ${token}` },
    tags: { name: ROUTES.portfolio },
  });
  expectStatus(portfolio, 200, `portfolio ${email}`);
  const s: Session = { email, token, accountId: String(field(portfolio, 'account_id')) };
  const deposit = http.post(
    `${BASE_URL}/api/v1/deposits`,
    JSON.stringify({ amount: DEPOSIT_AMOUNT, currency: 'USD' }),
    {
      headers: { ...jsonHeaders, ...authHeaders(s), 'Idempotency-Key': `${runId}-deposit-${i}` },
      tags: { name: ROUTES.deposit },
    },
  );
  expectStatus(deposit, 201, `deposit for ${email}`);
  return s;
}

/** Reference prices in integer cents: orders are priced from them. */
export function references(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const symbol of SYMBOLS) {
    const res = http.get(`${BASE_URL}/api/v1/market/${symbol}`, { tags: { name: ROUTES.market } });
    expectStatus(res, 200, `market ${symbol}`);
    out[symbol] = centsOf(field(res, 'reference_price'));
  }
  return out;
}

/**
 * One order placed and cancelled before the measured run, so that the first saga's cold start (worker
 * caches, connections) is not what the SLOs judge. Tagged apart from the routes' series.
 */
function warmUp(s: Session, refs: Record<string, number>, runId: string): void {
  const placed = http.post(
    `${BASE_URL}/api/v1/orders`,
    JSON.stringify(orderBody(0, refs, `${runId}-warmup`)),
    {
      headers: { ...jsonHeaders, ...authHeaders(s) },
      tags: { name: `setup ${ROUTES.placeOrder}` },
    },
  );
  expectStatus(placed, 201, 'warm-up order');
  http.del(`${BASE_URL}/api/v1/orders/${String(field(placed, 'order_id'))}`, null, {
    headers: authHeaders(s),
    tags: { name: `setup ${ROUTES.deleteOrder}` },
  });
}

/** The whole setup: services, `users` sessions, reference prices, one warm-up order. */
export function setupRun(users: number): SetupData {
  checkServices();
  const runId = `k6${Date.now().toString(36)}`;
  const sessions: Session[] = [];
  for (let i = 0; i < users; i++) sessions.push(session(i, runId));
  const refs = references();
  if (sessions[0]) warmUp(sessions[0], refs, runId);
  console.log(`setup: ${sessions.length} sessions (${userEmail(USER_PREFIX, 0)} ...), api ${BASE_URL}`);
  return { runId, users: sessions, references: refs };
}
