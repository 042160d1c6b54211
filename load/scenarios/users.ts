/**
 * Sessions for the Node generator, made as the k6 setup makes them (load/k6/lib/setup.ts): the users are
 * `<USER_PREFIX>-<i>@load.brokerx.test` on every run, so an existing one logs in (password, then the MFA
 * code mailed to Mailpit) and only a missing one registers and verifies its address first. That keeps
 * repeated runs within the api's registration limit (20 per address and hour). Each session then deposits
 * with a fresh Idempotency-Key.
 *
 * Unlike k6, the generator keeps its access tokens between runs (a 0600 file in the temp folder) and
 * reuses one that is still valid for the whole run: the api allows 20 MFA verifications per account and
 * hour, which back-to-back runs here would otherwise use up.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  api,
  ApiError,
  bearer,
  cancelOrder,
  deposit,
  ok,
  placeOrder,
  quote,
  readMail,
  type Endpoints,
  type Session,
} from '../client.js';
import { centsOf, DEPOSIT_AMOUNT, orderBody, SYMBOLS, userEmail } from '../k6/lib/profiles.js';

const TOKEN_CACHE = join(tmpdir(), 'brokerx-load-sessions.json');
type TokenCache = Record<string, { token: string; accountId: string }>;

function readTokens(file: string): TokenCache {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as TokenCache;
  } catch {
    return {};
  }
}

/** Seconds until a JWT's `exp`; 0 when it cannot be read. */
function secondsLeft(token: string): number {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as {
      exp?: unknown;
    };
    return typeof payload.exp === 'number' ? payload.exp - Date.now() / 1000 : 0;
  } catch {
    return 0;
  }
}

/** A kept session that stays valid for `needSeconds` and that the api still accepts. */
async function keptSession(
  ep: Endpoints,
  email: string,
  tokens: TokenCache,
  needSeconds: number,
): Promise<Session | undefined> {
  const kept = tokens[`${ep.api} ${email}`];
  if (!kept || secondsLeft(kept.token) < needSeconds) return undefined;
  try {
    const { account_id } = await ok(api(ep.api).GET('/api/v1/portfolio', { headers: bearer(kept) }));
    return account_id === kept.accountId ? { email, token: kept.token, accountId: account_id } : undefined;
  } catch {
    return undefined;
  }
}

/** Parallel logins: argon2 hashing makes each one cost the api real CPU. */
const CONCURRENCY = 3;

async function register(ep: Endpoints, email: string, password: string): Promise<void> {
  const since = Date.now() - 1000;
  await ok(
    api(ep.api).POST('/api/v1/clients/register', {
      body: { client: { email, first_name: 'Load', last_name: 'Node', password } },
    }),
  );
  const token = /token=([A-Za-z0-9_-]+)/.exec(await readMail(ep.mailpit, email, /verify/i, since))?.[1];
  if (!token) throw new Error(`no verification token in the mail to ${email}`);
  await ok(api(ep.api).GET('/api/v1/clients/verify', { params: { query: { token } } }));
}

/** Log in (registering first when the user does not exist or is not verified), MFA by mail, deposit. */
export async function session(ep: Endpoints, email: string, password: string): Promise<Session> {
  const client = api(ep.api);
  const login = () => ok(client.POST('/api/v1/auth/login', { body: { email, password } }));
  let since = Date.now() - 1000;
  try {
    await login();
  } catch (err) {
    if (!(err instanceof ApiError) || (err.status !== 401 && err.status !== 403)) throw err;
    await register(ep, email, password);
    since = Date.now() - 1000;
    await login();
  }
  const code = /\b(\d{6})\b/.exec(await readMail(ep.mailpit, email, /code/i, since))?.[1];
  if (!code) throw new Error(`no MFA code in the mail to ${email}`);
  const { token } = await ok(client.POST('/api/v1/auth/verify_mfa', { body: { email, code } }));
  const { account_id } = await ok(client.GET('/api/v1/portfolio', { headers: bearer({ token }) }));
  const s: Session = { email, token, accountId: account_id };
  await deposit(ep, s, DEPOSIT_AMOUNT);
  return s;
}

/** A 429 during setup: say which limit and what to do. */
function rateLimitHint(err: unknown): never {
  if (err instanceof ApiError && err.status === 429)
    throw new Error(
      `${err.message}: the api rate-limited setup (docs/load-testing.md): wait, lower USERS, use another ` +
        'USER_PREFIX, or raise AUTH_ADDRESS_LIMIT_MULTIPLIER on the api',
      { cause: err },
    );
  throw err;
}

/**
 * `n` sessions, a few at a time, each valid for at least `needSeconds` (a kept token when it is, else a
 * fresh login), each with a deposit. Tokens are kept in `tokenFile` (default: the temp folder's).
 */
export async function sessions(
  ep: Endpoints,
  n: number,
  prefix: string,
  password: string,
  needSeconds: number,
  tokenFile = TOKEN_CACHE,
): Promise<Session[]> {
  const tokens = readTokens(tokenFile);
  const out: Session[] = new Array<Session>(n);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < n; i = next++) {
      const email = userEmail(prefix, i);
      const kept = await keptSession(ep, email, tokens, needSeconds);
      const s = kept ?? (await session(ep, email, password).catch(rateLimitHint));
      if (kept) await deposit(ep, s, DEPOSIT_AMOUNT);
      tokens[`${ep.api} ${email}`] = { token: s.token, accountId: s.accountId };
      out[i] = s;
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, n) }, worker));
  writeFileSync(tokenFile, JSON.stringify(tokens), { mode: 0o600 });
  return out;
}

/** Reference prices in integer cents per symbol (orders are priced from them). */
export async function references(ep: Endpoints): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const symbol of SYMBOLS) out[symbol] = centsOf((await quote(ep, symbol)).reference_price);
  return out;
}

/**
 * One order placed and cancelled before the measured run, so that the first saga's cold start (worker
 * caches, connections) is not what the SLOs judge. Not recorded.
 */
export async function warmUp(
  ep: Endpoints,
  s: Session,
  refs: Record<string, number>,
  runId: string,
): Promise<void> {
  const { order } = orderBody(0, refs, `${runId}-warmup`);
  const placed = await placeOrder(ep, s, order);
  await cancelOrder(ep, s, placed.order_id);
}

/** The api answers /health and Mailpit its API, or the run stops before sending any load. */
export async function checkServices(ep: Endpoints): Promise<void> {
  const probe = async (url: string) => {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
      return res.ok ? undefined : `${url} answered ${res.status}`;
    } catch (err) {
      return `${url} is not reachable (${(err as Error).message})`;
    }
  };
  const problems = (
    await Promise.all([probe(`${ep.api}/health`), probe(`${ep.mailpit}/api/v1/info`)])
  ).filter(Boolean);
  if (problems.length) throw new Error(`${problems.join('; ')}. Start the stack first (npm start).`);
}
