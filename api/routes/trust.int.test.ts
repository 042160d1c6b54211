/**
 * The six findings of issue 18, each reproduced against the real api (Postgres, Redis, Temporal, Mailpit):
 * pre-account hijacking, second-factor replacement with a token alone, third-party lockout, hostile input
 * reaching 500, overflow retried instead of refused, and exposure (caching, metrics, revocation, the
 * token in the WebSocket URL). The mail-based reset of a lost authenticator: mfa-reset.int.test.ts.
 */
import { WorkflowNotFoundError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { eq, sql } from 'drizzle-orm';
import { generate } from 'otplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOrderActivities } from '../../activities/orders.js';
import { setUserSuspended } from '../../db/queries/users.js';
import { users } from '../../db/schema.js';
import { orderWorkflowId, type OrderRequest } from '../../temporal/contracts.js';
import {
  createTestApi,
  mailCount,
  mailsTo,
  uniqueEmail,
  waitForMail,
  type TestApi,
} from '../../test/helpers.js';
import {
  enrollAuthenticator,
  loginCode,
  reauthCode,
  reauthenticate,
  registerUserWithApp,
  registerVerifiedUser,
  TEST_PASSWORD,
  verificationToken,
  type TestUser,
} from '../../test/users.js';
import { MAIL_SUBJECTS } from '../auth/mails.js';
import { authServices } from '../auth/services.js';
import { connectFeed, serveWithFeed, type ServedFeed } from '../ws/testing.js';

type Json = Record<string, unknown>;

async function problemOf(res: Response, status: number, code?: string): Promise<Json> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  expect(res.headers.get('content-type')).toContain('application/problem+json');
  const body = JSON.parse(text) as Json;
  if (code) expect(body).toMatchObject({ success: false, status, code });
  return body;
}

let api: TestApi;
beforeAll(async () => (api = await createTestApi({ TRUSTED_PROXY_HOPS: '1' })));
afterAll(() => api?.close());

const from = (address: string) => ({ 'x-forwarded-for': address });
const register = (email: string, password: string, firstName = 'Reg') =>
  api.call('POST', '/api/v1/clients/register', {
    body: { client: { email, password, first_name: firstName, last_name: 'Istrant' } },
  });
const login = (email: string, password: string, headers?: Record<string, string>) =>
  api.call('POST', '/api/v1/auth/login', { body: { email, password }, headers });
const verify = (token: string) => api.call('GET', `/api/v1/clients/verify?token=${token}`);
const reauth = (token: string, password = TEST_PASSWORD, factor: Record<string, string> = {}) =>
  api.call('POST', '/api/v1/auth/reauthenticate', { token, body: { password, ...factor } });

/** Password, then the mailed code: the access token. */
async function session(
  email: string,
  password: string,
  headers?: Record<string, string>,
): Promise<{ token: string; refresh_token: string }> {
  const after = Date.now() - 1000;
  expect((await login(email, password, headers)).status).toBe(200);
  const code = await loginCode(email, after);
  const res = await api.call('POST', '/api/v1/auth/verify_mfa', { body: { email, code }, headers });
  expect(res.status).toBe(200);
  return (await res.json()) as { token: string; refresh_token: string };
}

/**
 * What the notices of second-factor changes to `email` say changed, sorted: read after `api.mailsSent()`,
 * as notices are not awaited and may arrive in any order.
 */
const mfaChanges = async (email: string) =>
  (await mailsTo(email, /second factor was changed/i))
    .map((m) => /changed: (.*)\.$/m.exec(m.text)?.[1])
    .sort();

describe('1. registration without pre-account hijacking', () => {
  it('the owner who registers after an attacker ends with their own password; the older link is dead', async () => {
    const email = uniqueEmail('victim');
    expect((await register(email, 'attacker-password-1')).status).toBe(201);
    const attackerLink = await verificationToken(email);
    const after = Date.now();
    expect((await register(email, 'owner-password-22')).status).toBe(201);
    const ownerLink = await verificationToken(email, after);
    expect(ownerLink).not.toBe(attackerLink);

    // A mail scanner follows the first link: superseded, nothing activated.
    await problemOf(await verify(attackerLink), 422, 'validation_failed');
    expect((await verify(ownerLink)).status).toBe(200);
    expect((await login(email, 'owner-password-22')).status).toBe(200);
    await problemOf(await login(email, 'attacker-password-1'), 401, 'unauthorized');
    const [row] = await api.deps.database.db.select().from(users).where(eq(users.email, email));
    expect(row?.status).toBe('active');
  });

  it('a link followed by anyone gives the first registrant no session without the mailbox, and reset gives it back', async () => {
    const email = uniqueEmail('scanned');
    expect((await register(email, 'attacker-password-1')).status).toBe(201);
    // Nobody but the mailbox sees the link; a scanner opening it activates the attacker's registration...
    expect((await verify(await verificationToken(email))).status).toBe(200);
    // ...but logging in needs the code mailed to that same mailbox.
    expect((await login(email, 'attacker-password-1')).status).toBe(200);
    for (const code of ['000000', '123456', '999999'])
      await problemOf(await api.call('POST', '/api/v1/auth/verify_mfa', { body: { email, code } }), 401);

    // The owner takes the account back by reset; the attacker's password stops working.
    const after = Date.now() - 1000;
    const forgot = await api.call('POST', '/api/v1/auth/password/forgot', { body: { email } });
    expect(forgot.status).toBe(202);
    const mail = await waitForMail(email, { subject: /reset your/i, after });
    const token = /token=([A-Za-z0-9_-]+)/.exec(mail.text)?.[1];
    expect(token).toBeDefined();
    expect(
      (
        await api.call('POST', '/api/v1/auth/password/reset', {
          body: { token, password: 'owner-new-password' },
        })
      ).status,
    ).toBe(200);
    await problemOf(await login(email, 'attacker-password-1'), 401);
    // The attacker's login in progress died with the reset, even with the code mailed before it.
    const attackerCode = await loginCode(email);
    await problemOf(
      await api.call('POST', '/api/v1/auth/verify_mfa', { body: { email, code: attackerCode } }),
      401,
    );
    expect((await login(email, 'owner-new-password')).status).toBe(200);
    // Single use.
    await problemOf(
      await api.call('POST', '/api/v1/auth/password/reset', {
        body: { token, password: 'another-password' },
      }),
      422,
    );
    await waitForMail(email, { subject: /password was changed/i, after });
  });

  it('resend_verification answers 202 for any address, supersedes older links, and mails only pending ones', async () => {
    const email = uniqueEmail('resend');
    const unknown = uniqueEmail('nobody');
    expect((await register(email, 'owner-password-22')).status).toBe(201);
    const first = await verificationToken(email);
    const after = Date.now();
    for (const address of [email, unknown]) {
      const res = await api.call('POST', '/api/v1/clients/resend_verification', { body: { email: address } });
      expect(res.status).toBe(202);
      expect(await res.json()).toMatchObject({ success: true, status: 'pending_verification' });
    }
    const second = await verificationToken(email, after);
    expect(second).not.toBe(first);
    await problemOf(await verify(first), 422);
    expect((await verify(second)).status).toBe(200);
    expect((await login(email, 'owner-password-22')).status).toBe(200);
    await api.mailsSent();
    expect(await mailCount(unknown)).toBe(0);
  });

  it('forgot answers 202 whether or not the address has an account', async () => {
    const res = await api.call('POST', '/api/v1/auth/password/forgot', {
      body: { email: uniqueEmail('ghost') },
    });
    expect(res.status).toBe(202);
  });
});

describe('2. the second factor needs a recent re-authentication (password and second factor) and tells the owner', () => {
  let user: TestUser;
  beforeAll(async () => (user = await registerVerifiedUser(api)));

  it('refuses enrolling, activating and removing with an access token alone', async () => {
    for (const [method, path, body] of [
      ['POST', '/api/v1/auth/mfa/totp/setup', undefined],
      ['POST', '/api/v1/auth/mfa/totp/activate', { code: '123456' }],
      ['DELETE', '/api/v1/auth/mfa/totp', undefined],
    ] as const) {
      const problem = await problemOf(
        await api.call(method, path, { token: user.token, body }),
        403,
        'forbidden',
      );
      expect(problem.reauthentication_required).toBe(true);
    }
    await problemOf(await reauth(user.token, 'not-the-password'), 401, 'unauthorized');
  });

  it('mailed codes: the password alone mails a code for this session, and only password plus that code re-authenticates, once', async () => {
    const other = await registerVerifiedUser(api);
    const after = Date.now() - 1000;
    const asked = await reauth(other.token);
    expect(asked.status).toBe(202);
    expect(await asked.json()).toMatchObject({ second_factor_required: true, mfa_method: 'email' });
    const code = await reauthCode(other.email, after);
    // The password alone changed nothing yet.
    await problemOf(await api.call('POST', '/api/v1/auth/mfa/totp/setup', { token: other.token }), 403);
    // The code from another session's mail, or with a wrong password: refused.
    const elsewhere = await session(other.email, TEST_PASSWORD);
    await problemOf(await reauth(elsewhere.token, TEST_PASSWORD, { code }), 401, 'unauthorized');
    await problemOf(await reauth(other.token, 'not-the-password', { code }), 401, 'unauthorized');
    await problemOf(await reauth(other.token, TEST_PASSWORD, { code: 'abc' }), 422, 'validation_failed');
    expect((await reauth(other.token, TEST_PASSWORD, { code })).status).toBe(200);
    expect((await api.call('POST', '/api/v1/auth/mfa/totp/setup', { token: other.token })).status).toBe(200);
    // The code works once.
    await problemOf(await reauth(other.token, TEST_PASSWORD, { code }), 401, 'unauthorized');
  });

  it('an authenticator app: the password alone asks for its code (nothing mailed); the app code or a recovery code (once) re-authenticates', async () => {
    const app = await registerUserWithApp(api);
    await api.mailsSent();
    const mailsBefore = await mailsTo(app.email);
    const asked = await reauth(app.token);
    expect(asked.status).toBe(202);
    expect(await asked.json()).toMatchObject({ second_factor_required: true, mfa_method: 'totp' });
    await api.mailsSent();
    expect(await mailsTo(app.email)).toEqual(mailsBefore);
    await problemOf(await reauth(app.token, TEST_PASSWORD, { code: '000000' }), 401, 'unauthorized');
    await problemOf(
      await reauth(app.token, TEST_PASSWORD, { code: '123456', recovery_code: app.recoveryCodes[0]! }),
      422,
      'validation_failed',
    );
    expect((await reauth(app.token, TEST_PASSWORD, { recovery_code: app.recoveryCodes[0]! })).status).toBe(
      200,
    );
    await api.mailsSent();
    expect(await mfaChanges(app.email)).toEqual(
      [
        'an authenticator app was enrolled',
        'a recovery code was used to confirm a change (it no longer works)',
      ].sort(),
    );
    await problemOf(
      await reauth(app.token, TEST_PASSWORD, { recovery_code: app.recoveryCodes[0]! }),
      401,
      'unauthorized',
    );
    await problemOf(
      await reauth(app.token, 'not-the-password', { code: await generate({ secret: app.secret }) }),
      401,
    );
    // The app's current code (the enrollment spent the current step: the next one, as an app shows it).
    const next = await generate({ secret: app.secret, epoch: Math.floor(Date.now() / 1000) + 30 });
    expect((await reauth(app.token, TEST_PASSWORD, { code: next })).status).toBe(200);
  });

  it('enrolls, replaces and removes after re-authentication, mails each change, and accepts a recovery code once', async () => {
    await reauthenticate(api, user);
    const enroll = () => enrollAuthenticator(api, user.token);
    const first = await enroll();
    const replaced = await enroll(); // replacing is allowed within the re-authentication window
    expect(replaced.secret).not.toBe(first.secret);

    // Lost app: a recovery code logs in, once; codes of the replaced enrollment are dead.
    expect((await login(user.email, TEST_PASSWORD)).status).toBe(200);
    await problemOf(
      await api.call('POST', '/api/v1/auth/verify_mfa', {
        body: { email: user.email, recovery_code: first.recoveryCodes[0] },
      }),
      401,
    );
    const ok = await api.call('POST', '/api/v1/auth/verify_mfa', {
      body: { email: user.email, recovery_code: replaced.recoveryCodes[0] },
    });
    expect(ok.status).toBe(200);
    expect((await login(user.email, TEST_PASSWORD)).status).toBe(200);
    await problemOf(
      await api.call('POST', '/api/v1/auth/verify_mfa', {
        body: { email: user.email, recovery_code: replaced.recoveryCodes[0] },
      }),
      401,
    );

    expect((await api.call('DELETE', '/api/v1/auth/mfa/totp', { token: user.token })).status).toBe(200);
    // Each change mailed once, whatever order the notices arrived in.
    await api.mailsSent();
    expect(await mfaChanges(user.email)).toEqual(
      [
        'an authenticator app was enrolled',
        'a new authenticator app replaced the old one',
        'a recovery code was used to log in (it no longer works)',
        'the authenticator app was removed; login codes come by mail again',
      ].sort(),
    );
    const res = await login(user.email, TEST_PASSWORD);
    expect(((await res.json()) as Json).mfa_method).toBe('email');
  });
});

describe('3. login limits an attacker cannot turn against the owner', () => {
  it('110 wrong passwords from 11 addresses leave the owner able to log in', async () => {
    const user = await registerVerifiedUser(api);
    const home = from('192.0.2.20');
    await session(user.email, TEST_PASSWORD, home); // the owner's usual address becomes trusted

    for (let source = 0; source < 11; source++) {
      for (let i = 0; i < 10; i++)
        await login(user.email, `guess-${source}-${i}`, from(`203.0.113.${source + 1}`));
    }
    // The per-account limit holds for strangers: guessing from yet another address is refused.
    await problemOf(await login(user.email, 'guess-new', from('198.51.100.77')), 429, 'too_many_requests');
    // The owner from home logs in as usual.
    expect((await login(user.email, TEST_PASSWORD, home)).status).toBe(200);

    // The owner from a new place is slowed down, but got an unlock link by mail that lets that device in.
    const travel = from('198.51.100.200');
    await problemOf(await login(user.email, TEST_PASSWORD, travel), 429);
    const mail = await waitForMail(user.email, { subject: /failed logins/i });
    const token = /unlock\?token=([A-Za-z0-9_-]+)/.exec(mail.text)?.[1];
    expect(token).toBeDefined();
    // The link opens the page, which posts the token on a click: following it (a scanner) spends nothing.
    expect(mail.text).toContain(`${api.deps.config.PUBLIC_URL}/unlock?token=${token}`);
    await problemOf(
      await api.call('GET', `/api/v1/auth/unlock?token=${token}`, { headers: travel }),
      405,
      'method_not_allowed',
    );
    const unlock = await api.call('POST', '/api/v1/auth/unlock', { body: { token }, headers: travel });
    expect(unlock.status).toBe(200);
    expect((await login(user.email, TEST_PASSWORD, travel)).status).toBe(200);
    await problemOf(await login(user.email, 'guess-again', from('198.51.100.78')), 429);
  }, 240_000);
});

describe('4. hostile input is a 4xx problem, never a 500', () => {
  let user: TestUser;
  beforeAll(async () => (user = await registerVerifiedUser(api)));

  it('refuses NUL bytes and lone surrogates in JSON strings with 422', async () => {
    await problemOf(await login('a\u0000@example.test', 'x'), 422, 'validation_failed');
    await problemOf(
      await api.call('POST', '/api/v1/auth/verify_mfa', {
        body: { email: 'a\u0000@example.test', code: '123456' },
      }),
      422,
    );
    await problemOf(await register(uniqueEmail('nul'), 'password-123', 'Ada\u0000'), 422);
    await problemOf(await register(uniqueEmail('surrogate'), 'password-123', 'Ada\ud800'), 422);
    const problem = await problemOf(
      await api.call('POST', '/api/v1/auth/login', {
        raw: '{"email":"x@y.z","password":"\\udc00"}',
        headers: { 'content-type': 'application/json' },
      }),
      422,
    );
    expect(problem.errors).toEqual(['password: must not contain NUL bytes or unpaired surrogates']);
  });

  it('refuses invalid UTF-8 bodies and query strings with 400, NUL in a query with 422', async () => {
    const bytes = Buffer.concat([
      Buffer.from('{"email":"'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('@x.y","password":"p"}'),
    ]);
    const res = await api.app.request('/api/v1/auth/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: bytes,
    });
    await problemOf(res, 400, 'bad_request');
    await problemOf(await api.call('GET', '/api/v1/orders?symbol=%00', { token: user.token }), 422);
    await problemOf(await api.call('GET', '/api/v1/orders?symbol=%FF', { token: user.token }), 400);
    await problemOf(await api.call('GET', '/api/v1/orders/%00', { token: user.token }), 422);
  });

  it('refuses non-ASCII in a header used as data with 400', async () => {
    await problemOf(
      await api.call('POST', '/api/v1/deposits', {
        token: user.token,
        body: { amount: '1.00', currency: 'USD' },
        headers: { 'idempotency-key': 'caf\u00e9' },
      }),
      400,
    );
  });
});

describe('5. an impossible order is refused, not retried', () => {
  let user: TestUser;
  beforeAll(async () => (user = await registerVerifiedUser(api)));

  it('answers 422 for 10^15 shares without starting a saga', async () => {
    const clientOrderId = `overflow-${Date.now()}`;
    const problem = await problemOf(
      await api.call('POST', '/api/v1/orders', {
        token: user.token,
        body: {
          order: {
            symbol: 'AAPL',
            order_type: 'limit',
            direction: 'buy',
            quantity: 1e15,
            price: '185.00',
            client_order_id: clientOrderId,
          },
        },
      }),
      422,
      'validation_failed',
    );
    expect(String(problem.errors)).toMatch(/quantity: must be at most 1000000000/);
    const handle = api.deps.temporal.workflow.getHandle(orderWorkflowId(user.accountId, clientOrderId));
    await expect(handle.describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
  });

  it('bounds price, notional and deposit amounts in the schema', async () => {
    const order = (o: Json) =>
      api.call('POST', '/api/v1/orders', {
        token: user.token,
        body: { order: { symbol: 'AAPL', order_type: 'limit', direction: 'buy', ...o } },
      });
    await problemOf(await order({ quantity: 1, price: '100000000.00' }), 422);
    const notional = await problemOf(await order({ quantity: 1_000_000_000, price: '999999.00' }), 422);
    expect(String(notional.errors)).toMatch(/quantity x price/);
    await problemOf(
      await api.call('POST', '/api/v1/deposits', {
        token: user.token,
        body: { amount: '10000000000000000', currency: 'USD' },
        headers: { 'idempotency-key': `huge-${Date.now()}` },
      }),
      422,
    );
  });

  it('the validation activity fails an out-of-range order as non-retryable', async () => {
    const activities = createOrderActivities({ db: api.deps.database.db });
    const order: OrderRequest = {
      orderId: '00000000-0000-4000-8000-000000000001',
      accountId: user.accountId,
      clientOrderId: 'x',
      symbol: 'AAPL',
      side: 'buy',
      orderType: 'limit',
      timeInForce: 'DAY',
      quantity: '1000000000000000',
      price: '18500',
    };
    const failure = await activities.validateOrder(order).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect((failure as ApplicationFailure).nonRetryable).toBe(true);
    const reserve = await activities
      .reserveFunds({
        order: { ...order, orderId: '00000000-0000-4000-8000-000000000002', quantity: '1' },
        workflowId: 'out-of-range',
        reserved: { reserveAsset: 'USD', reserveAmount: '99999999999999999999', reservePrice: '18500' },
      })
      .catch((err: unknown) => err);
    expect((reserve as ApplicationFailure).nonRetryable).toBe(true);
    // Refused before anything is written: no order row.
    const rows = await api.deps.database.db.execute(
      sql`SELECT 1 FROM orders WHERE id = '00000000-0000-4000-8000-000000000002'::uuid`,
    );
    expect(rows.length).toBe(0);
  });
});

describe('6. exposure: caching, metrics, revocation, the feed token', () => {
  let served: ServedFeed;
  beforeAll(async () => (served = await serveWithFeed(api.app, api.deps)));
  afterAll(() => served?.close());

  it('marks token-bearing and authenticated answers no-store, and gives /docs its own CSP', async () => {
    const user = await registerVerifiedUser(api);
    const refreshed = await api.call('POST', '/api/v1/auth/refresh', {
      body: { refresh_token: user.refreshToken },
    });
    expect(refreshed.headers.get('cache-control')).toBe('no-store');
    const { token } = (await refreshed.json()) as { token: string };
    const portfolio = await api.call('GET', '/api/v1/portfolio', { token });
    expect(portfolio.status).toBe(200);
    expect(portfolio.headers.get('cache-control')).toBe('no-store');
    expect(portfolio.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    const docs = await api.call('GET', '/docs');
    expect(docs.headers.get('content-security-policy')).toMatch(/script-src 'self';/);
    expect(docs.headers.get('content-security-policy')).not.toMatch(/script-src[^;]*unsafe-inline/);
    expect((await api.call('GET', '/metrics')).status).toBe(404);
  });

  it('logout closes the session socket at once (not at the next revalidation) and fails the next request', async () => {
    const user = await registerVerifiedUser(api);
    const client = await connectFeed(served.url, { token: user.token, tokenInProtocol: true });
    expect(client.ws.protocol).toBe('bearer');
    expect((await api.call('POST', '/api/v1/auth/logout', { token: user.token })).status).toBe(200);
    // The feed's own revalidation runs every 60 s by default: a close now comes from the revocation event.
    expect((await client.closed).code).toBe(4003);
    await problemOf(await api.call('GET', '/api/v1/portfolio', { token: user.token }), 401);
  });

  it('refresh-token reuse and a password reset close the sockets of the sessions they end', async () => {
    const user = await registerVerifiedUser(api);
    const socket = await connectFeed(served.url, { token: user.token });
    const refresh = () =>
      api.call('POST', '/api/v1/auth/refresh', { body: { refresh_token: user.refreshToken } });
    expect((await refresh()).status).toBe(200);
    await problemOf(await refresh(), 401, 'unauthorized'); // the rotated token again: a reuse
    expect((await socket.closed).code).toBe(4003);

    const other = await session(user.email, TEST_PASSWORD);
    const otherSocket = await connectFeed(served.url, { token: other.token });
    const after = Date.now() - 1000;
    expect(
      (await api.call('POST', '/api/v1/auth/password/forgot', { body: { email: user.email } })).status,
    ).toBe(202);
    const mail = await waitForMail(user.email, { subject: /reset your/i, after });
    const token = /token=([A-Za-z0-9_-]+)/.exec(mail.text)?.[1];
    const reset = await api.call('POST', '/api/v1/auth/password/reset', {
      body: { token, password: 'a-brand-new-password' },
    });
    expect(reset.status).toBe(200);
    expect((await otherSocket.closed).code).toBe(4003);
    await problemOf(await api.call('GET', '/api/v1/portfolio', { token: other.token }), 401);
  });

  it('suspension ends REST access, the sockets of every session of the user, and the login in progress', async () => {
    const user = await registerVerifiedUser(api);
    const client = await connectFeed(served.url, { token: user.token });
    expect((await api.call('GET', '/api/v1/portfolio', { token: user.token })).status).toBe(200);
    const after = Date.now() - 1000;
    expect((await login(user.email, TEST_PASSWORD)).status).toBe(200);
    const code = await loginCode(user.email, after);
    // What POST /admin/users/{id}/suspend does once its control workflow wrote the status (admin.int.test.ts).
    await setUserSuspended(api.deps.database.db, user.userId, true);
    await authServices(api.deps).sessions.revokeUser(user.userId, 'suspended');
    expect((await client.closed).code).toBe(4003);
    await problemOf(await api.call('GET', '/api/v1/portfolio', { token: user.token }), 401);
    // The code mailed before the suspension gives no tokens.
    await problemOf(
      await api.call('POST', '/api/v1/auth/verify_mfa', { body: { email: user.email, code } }),
      401,
    );
  });

  it('a password change ends the other sessions, keeps this one, and notifies the owner', async () => {
    const user = await registerVerifiedUser(api);
    const other = await session(user.email, TEST_PASSWORD);
    const otherSocket = await connectFeed(served.url, { token: other.token });
    const after = Date.now() - 1000;
    const res = await api.call('POST', '/api/v1/auth/password/change', {
      token: user.token,
      body: { current_password: TEST_PASSWORD, new_password: 'a-new-password-1' },
    });
    expect(res.status).toBe(200);
    expect((await otherSocket.closed).code).toBe(4003);
    await problemOf(await api.call('GET', '/api/v1/portfolio', { token: other.token }), 401);
    expect((await api.call('GET', '/api/v1/portfolio', { token: user.token })).status).toBe(200);
    await waitForMail(user.email, { subject: /password was changed/i, after });
    await problemOf(
      await api.call('POST', '/api/v1/auth/password/change', {
        token: user.token,
        body: { current_password: 'wrong-password', new_password: 'whatever-123' },
      }),
      401,
    );
  });
});

describe('7. beyond the findings: what ASVS 5.0 asks of authentication and sessions', () => {
  const forgotToken = async (email: string) => {
    const after = Date.now() - 1000;
    await api.call('POST', '/api/v1/auth/password/forgot', { body: { email } });
    const mail = await waitForMail(email, { subject: /reset your/i, after });
    return /token=([A-Za-z0-9_-]+)/.exec(mail.text)?.[1];
  };

  it('refuses commonly breached passwords and the account address at registration, reset and change (422 password_too_common), changing nothing', async () => {
    const email = uniqueEmail('weak');
    const refused = await problemOf(await register(email, 'Password123!'), 422, 'password_too_common');
    expect(refused.errors).toEqual([expect.stringMatching(/^client\.password: is one of the most common/)]);
    const local = email.split('@')[0]!;
    await problemOf(await register(email, `${local}-2026`), 422, 'password_too_common');
    await api.mailsSent();
    expect(await mailCount(email)).toBe(0); // nothing registered, nothing mailed

    const user = await registerVerifiedUser(api);
    const token = await forgotToken(user.email);
    const reset = (password: string) =>
      api.call('POST', '/api/v1/auth/password/reset', { body: { token, password } });
    const weak = await problemOf(await reset('qwertyuiop'), 422, 'password_too_common');
    expect(weak.errors).toEqual([expect.stringMatching(/^password: /)]);
    expect((await reset('a sturdier passphrase 7')).status).toBe(200); // the link survived the refusal

    const fresh = await session(user.email, 'a sturdier passphrase 7');
    const change = (new_password: string) =>
      api.call('POST', '/api/v1/auth/password/change', {
        token: fresh.token,
        body: { current_password: 'a sturdier passphrase 7', new_password },
      });
    const common = await problemOf(await change('iloveyou2'), 422, 'password_too_common');
    expect(common.errors).toEqual([expect.stringMatching(/^new_password: /)]);
    await problemOf(await change(`${user.email} is mine`), 422, 'password_too_common');
    expect((await login(user.email, 'a sturdier passphrase 7')).status).toBe(200);
  });

  it('mails the owner at a login from a new address (once per address), never at the first login after registration', async () => {
    const email = uniqueEmail('newsource');
    expect((await register(email, TEST_PASSWORD)).status).toBe(201);
    expect((await verify(await verificationToken(email))).status).toBe(200);
    await session(email, TEST_PASSWORD, from('203.0.113.5')); // the first login: no mail
    await session(email, TEST_PASSWORD, from('203.0.113.5')); // a known address: no mail
    const stranger = { ...from('198.51.100.7'), 'user-agent': 'Mozilla/5.0 (X11; Linux) Strange/1.0' };
    await session(email, TEST_PASSWORD, stranger);
    await session(email, TEST_PASSWORD, stranger); // the same new address again: still one mail
    // Notices are not awaited: every mail handed to the mailer, then the whole set, in any order.
    await api.mailsSent();
    const mails = await mailsTo(email);
    expect(mails.map((m) => m.subject)).toEqual(
      [
        MAIL_SUBJECTS.verify,
        ...Array<string>(4).fill(MAIL_SUBJECTS.loginCode),
        MAIL_SUBJECTS.newLogin,
      ].sort(),
    );
    const mail = mails.find((m) => m.subject === MAIL_SUBJECTS.newLogin)!;
    expect(mail.text).toContain('Address:  198.51.100.7');
    expect(mail.text).toContain('Device:   Mozilla/5.0 (X11; Linux) Strange/1.0');
    expect(mail.text).toMatch(/When: +\d{4}-\d\d-\d\dT/);
    expect(mail.text).toContain(`${api.deps.config.PUBLIC_URL}/reset-password`);
  });

  it('a re-authentication lasts REAUTH_TTL_SECONDS (5 minutes by default)', async () => {
    const user = await registerVerifiedUser(api);
    const after = Date.now() - 1000;
    expect((await reauth(user.token)).status).toBe(202);
    const res = await reauth(user.token, TEST_PASSWORD, { code: await reauthCode(user.email, after) });
    expect(res.status).toBe(200);
    expect(api.deps.config.REAUTH_TTL_SECONDS).toBe(300);
    expect(await res.json()).toMatchObject({ expires_in: 300 });
    const { sid } = JSON.parse(Buffer.from(user.token.split('.')[1]!, 'base64url').toString()) as {
      sid: string;
    };
    const ttl = await api.deps.redis.ttl(`${api.deps.config.REDIS_PREFIX}auth:reauth:${sid}`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(300);
  });
});
