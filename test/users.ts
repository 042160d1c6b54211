/**
 * Test users made through the real HTTP flow: register, the verification mail (Mailpit), verify, login,
 * the login-code mail, verify_mfa. `createFundedUser` also deposits through the API and, for shares,
 * posts a ledger entry from the house account (asset = the symbol, as positions are keyed).
 */
import { randomUUID } from 'node:crypto';
import { generate } from 'otplib';
import { HOUSE_ACCOUNT_ID } from '../db/accounts.js';
import { postEntry } from '../db/queries/ledger.js';
import { CASH_SCALE, formatDecimal, parseDecimal } from '../lib/money.js';
import { uniqueEmail, waitForMail, type TestApi } from './helpers.js';

export interface TestUser {
  email: string;
  password: string;
  userId: string;
  accountId: string;
  token: string;
  refreshToken: string;
}

export interface FundedTestUser extends TestUser {
  cashCents: bigint;
  shares: Record<string, bigint>;
}

export const TEST_PASSWORD = 'correct-horse-battery-staple';
/** The API refuses larger single deposits (MAX_TRANSFER_CENTS in api/routes/funding.ts). */
const MAX_DEPOSIT_CENTS = 100_000_000n;
const MAIL_TIMEOUT_MS = 15_000;

async function expectStatus(res: Response, status: number, what: string): Promise<unknown> {
  const text = await res.text();
  if (res.status !== status) throw new Error(`${what}: expected ${status}, got ${res.status}: ${text}`);
  return text ? JSON.parse(text) : undefined;
}

/** The verification token from the newest verification mail to `email`. */
export async function verificationToken(email: string, after?: number): Promise<string> {
  const mail = await waitForMail(email, { subject: /verify/i, timeoutMs: MAIL_TIMEOUT_MS, after });
  const token = /[?&]token=([A-Za-z0-9_-]+)/.exec(mail.text)?.[1];
  if (!token) throw new Error(`no verification token in mail to ${email}`);
  return token;
}

/** The code from the newest login-code mail to `email`. */
export async function loginCode(email: string, after?: number): Promise<string> {
  const mail = await waitForMail(email, { subject: /login code/i, timeoutMs: MAIL_TIMEOUT_MS, after });
  const code = /\b(\d{6})\b/.exec(mail.text)?.[1];
  if (!code) throw new Error(`no login code in mail to ${email}`);
  return code;
}

/** Password login + emailed code (with `headers`, e.g. a source): the token response of verify_mfa. */
export async function loginWithEmailCode(
  api: TestApi,
  email: string,
  password = TEST_PASSWORD,
  headers?: Record<string, string>,
): Promise<{ token: string; refresh_token: string; user_id: string; account_id: string }> {
  const after = Date.now() - 1000;
  await expectStatus(
    await api.call('POST', '/api/v1/auth/login', { body: { email, password }, headers }),
    200,
    'login',
  );
  const code = await loginCode(email, after);
  return (await expectStatus(
    await api.call('POST', '/api/v1/auth/verify_mfa', { body: { email, code }, headers }),
    200,
    'verify_mfa',
  )) as {
    token: string;
    refresh_token: string;
    user_id: string;
    account_id: string;
  };
}

export async function registerVerifiedUser(
  api: TestApi,
  opts: { email?: string; password?: string; firstName?: string; lastName?: string } = {},
): Promise<TestUser> {
  const email = opts.email ?? uniqueEmail('user');
  const password = opts.password ?? TEST_PASSWORD;
  const client = {
    email,
    password,
    first_name: opts.firstName ?? 'Test',
    last_name: opts.lastName ?? 'User',
  };
  await expectStatus(
    await api.call('POST', '/api/v1/clients/register', { body: { client } }),
    201,
    'register',
  );
  const token = await verificationToken(email);
  await expectStatus(await api.call('GET', `/api/v1/clients/verify?token=${token}`), 200, 'verify');
  const session = await loginWithEmailCode(api, email, password);
  return {
    email,
    password,
    userId: session.user_id,
    accountId: session.account_id,
    token: session.token,
    refreshToken: session.refresh_token,
  };
}

/**
 * Enroll (or replace) an authenticator app for a session that re-authenticated recently: setup, then
 * activate with the app's current code. The app's secret and the recovery codes.
 */
export async function enrollAuthenticator(
  api: TestApi,
  token: string,
): Promise<{ secret: string; recoveryCodes: string[] }> {
  const setup = (await expectStatus(
    await api.call('POST', '/api/v1/auth/mfa/totp/setup', { token }),
    200,
    'totp setup',
  )) as { secret: string };
  const activated = (await expectStatus(
    await api.call('POST', '/api/v1/auth/mfa/totp/activate', {
      token,
      body: { code: await generate({ secret: setup.secret }) },
    }),
    200,
    'totp activate',
  )) as { recovery_codes: string[] };
  return { secret: setup.secret, recoveryCodes: activated.recovery_codes };
}

/** The code from the newest re-authentication mail to `email`. */
export async function reauthCode(email: string, after?: number): Promise<string> {
  const mail = await waitForMail(email, { subject: /confirmation code/i, timeoutMs: MAIL_TIMEOUT_MS, after });
  const code = /\b(\d{6})\b/.exec(mail.text)?.[1];
  if (!code) throw new Error(`no confirmation code in mail to ${email}`);
  return code;
}

/**
 * Re-authenticate the session of `token` fully: the password, then the second factor (the app's current
 * code when `secret` is given, else the code the first request mails).
 */
export async function reauthenticate(
  api: TestApi,
  user: { token: string; email: string; password: string; secret?: string },
): Promise<void> {
  const after = Date.now() - 1000;
  const call = (extra: Record<string, string> = {}) =>
    api.call('POST', '/api/v1/auth/reauthenticate', {
      token: user.token,
      body: { password: user.password, ...extra },
    });
  const code = user.secret
    ? await generate({ secret: user.secret })
    : (await expectStatus(await call(), 202, 'reauthenticate (password)'),
      await reauthCode(user.email, after));
  await expectStatus(await call({ code }), 200, 'reauthenticate (code)');
}

/** A verified user who re-authenticated and enrolled an authenticator app: its secret and recovery codes. */
export async function registerUserWithApp(
  api: TestApi,
): Promise<TestUser & { secret: string; recoveryCodes: string[] }> {
  const user = await registerVerifiedUser(api);
  await reauthenticate(api, user);
  return { ...user, ...(await enrollAuthenticator(api, user.token)) };
}

/** Deposit through the API (split into deposits of at most the per-transfer maximum). */
export async function deposit(api: TestApi, token: string, cents: bigint): Promise<void> {
  for (let left = cents; left > 0n;) {
    const chunk = left > MAX_DEPOSIT_CENTS ? MAX_DEPOSIT_CENTS : left;
    const res = await api.call('POST', '/api/v1/deposits', {
      token,
      body: { amount: formatDecimal(chunk, CASH_SCALE), currency: 'USD' },
      headers: { 'idempotency-key': randomUUID() },
    });
    await expectStatus(res, 201, 'deposit');
    left -= chunk;
  }
}

/** A verified user with `cashDollars` (a decimal string, e.g. "1000.00") and optionally shares per symbol. */
export async function createFundedUser(
  api: TestApi,
  cashDollars: string,
  shares: Record<string, bigint> = {},
): Promise<FundedTestUser> {
  const cash = parseDecimal(cashDollars, CASH_SCALE);
  if (!cash.ok || cash.value < 0n) throw new Error(`createFundedUser: bad cash amount ${cashDollars}`);
  const user = await registerVerifiedUser(api);
  if (cash.value > 0n) await deposit(api, user.token, cash.value);
  const held = Object.entries(shares).filter(([, qty]) => qty > 0n);
  if (held.length > 0) {
    await api.deps.database.db.transaction(async (tx) => {
      await postEntry(tx, {
        kind: 'test_shares',
        reference: `${user.accountId}:${randomUUID()}`,
        memo: 'test fixture: shares from the house account',
        postings: held.flatMap(([symbol, qty]) => [
          { accountId: HOUSE_ACCOUNT_ID, asset: symbol, bucket: 'available' as const, amount: -qty },
          { accountId: user.accountId, asset: symbol, bucket: 'available' as const, amount: qty },
        ]),
      });
    });
  }
  return { ...user, cashCents: cash.value, shares: Object.fromEntries(held) };
}
