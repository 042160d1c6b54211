/**
 * The mail-based reset of a lost authenticator app against the real api (Postgres, Redis, Mailpit), whose
 * clock the tests move past MFA_RESET_DELAY_SECONDS instead of waiting: the request needs the password
 * step, the mailed link confirms, the app goes only after the delay (then a mailed code is enough), and
 * the owner can stop it meanwhile.
 */
import { eq } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { mfaResets } from '../../db/schema.js';
import { createTestApi, mailCount, uniqueEmail, waitForMail, type TestApi } from '../../test/helpers.js';
import { expectProblem } from '../../test/http.js';
import {
  loginCode,
  registerUserWithApp,
  registerVerifiedUser,
  TEST_PASSWORD,
  type TestUser,
} from '../../test/users.js';
import { codeForStep, timeStep } from '../auth/totp.js';

const DELAY_SECONDS = 120;

let api: TestApi;
/** How far the api's clock is ahead of the real one: moved on within a test, back after it. */
let offsetMs = 0;
afterEach(() => void (offsetMs = 0));
beforeAll(
  async () =>
    (api = await createTestApi(
      { MFA_RESET_DELAY_SECONDS: String(DELAY_SECONDS) },
      () => new Date(Date.now() + offsetMs),
    )),
);
afterAll(() => api?.close());

type AppUser = TestUser & { secret: string; recoveryCodes: string[] };

const login = (email: string) =>
  api.call('POST', '/api/v1/auth/login', { body: { email, password: TEST_PASSWORD } });
const requestReset = (email: string, token?: string) =>
  api.call('POST', '/api/v1/auth/mfa_reset/request', { body: { email }, token });
const confirm = (token: string) => api.call('POST', '/api/v1/auth/mfa_reset/confirm', { body: { token } });
const cancel = (token: string) => api.call('POST', '/api/v1/auth/mfa_reset/cancel', { body: { token } });
const portfolio = (token: string) => api.call('GET', '/api/v1/portfolio', { token });
const verifyMfa = (body: Record<string, string>) => api.call('POST', '/api/v1/auth/verify_mfa', { body });
/** Move the api's clock on to `ms`. */
const advanceTo = (ms: number) => void (offsetMs = Math.max(offsetMs, ms - Date.now()));
/** A code of the user's app that the server has not accepted yet (the next step, within its drift window). */
const appCode = (user: AppUser) => codeForStep(user.secret, timeStep(api.deps.now()) + 1);

/** The password step of a login: which second factor it asks for. */
async function mfaMethod(email: string): Promise<string> {
  const res = await login(email);
  expect(res.status).toBe(200);
  return ((await res.json()) as { mfa_method: string }).mfa_method;
}

const userWithApp = (): Promise<AppUser> => registerUserWithApp(api);

/** Log in with the password, ask for a reset, and read the token of the mailed link. */
async function requestedReset(email: string): Promise<string> {
  expect(await mfaMethod(email)).toBe('totp');
  const res = await requestReset(email);
  expect(res.status).toBe(202);
  const mail = await waitForMail(email, { subject: /reset the authenticator/i });
  const token = /reset-authenticator\?token=([A-Za-z0-9_-]+)/.exec(mail.text)?.[1];
  if (!token) throw new Error(`no reset link in ${mail.text}`);
  expect(mail.text).toContain(`token=${token}&cancel=1`);
  return token;
}

/** A requested and confirmed reset: its token and when it takes effect (ms). */
async function scheduledReset(email: string): Promise<{ token: string; effectiveAt: number }> {
  const token = await requestedReset(email);
  const confirmedAfter = api.deps.now().getTime();
  const res = await confirm(token);
  expect(res.status).toBe(200);
  const effectiveAt = Date.parse(((await res.json()) as { effective_at: string }).effective_at);
  expect(effectiveAt).toBeGreaterThanOrEqual(confirmedAfter + DELAY_SECONDS * 1000);
  return { token, effectiveAt };
}

describe('a lost authenticator app, reset by mail', () => {
  it('takes effect only after the delay, mails the owner at each step, ends the sessions, and then a mailed code is enough', async () => {
    const user = await userWithApp();
    const { token, effectiveAt } = await scheduledReset(user.email);
    const scheduled = await waitForMail(user.email, { subject: /will be removed/i });
    expect(scheduled.text).toContain(new Date(effectiveAt).toISOString());
    expect(scheduled.text).toContain(`token=${token}&cancel=1`);
    await expectProblem(await confirm(token), 422, 'validation_failed'); // the link works once

    // Within the delay nothing changed: the login still asks for the app, the sessions live on.
    expect(await mfaMethod(user.email)).toBe('totp');
    expect((await portfolio(user.token)).status).toBe(200);
    expect(api.deps.now().getTime()).toBeLessThan(effectiveAt);

    advanceTo(effectiveAt + 1000);
    const after = Date.now() - 1000;
    expect(await mfaMethod(user.email)).toBe('email');
    const removed = await vi.waitFor(
      async () => {
        const mail = await waitForMail(user.email, { subject: /second factor was changed/i, after });
        if (!/removed by the reset/.test(mail.text)) throw new Error('no removal notice yet');
        return mail;
      },
      { timeout: 15_000, interval: 200 },
    );
    expect(removed.text).toMatch(/login codes come by mail again/);
    // The lost phone's session ended with the app.
    await expectProblem(await portfolio(user.token), 401, 'unauthorized');

    // The old app's code is no use any more, and not needed: the mailed code logs in.
    await expectProblem(await verifyMfa({ email: user.email, code: await appCode(user) }), 401);
    const code = await loginCode(user.email, after);
    expect((await verifyMfa({ email: user.email, code })).status).toBe(200);
    // The recovery codes went with the app.
    expect(await mfaMethod(user.email)).toBe('email');
    await expectProblem(
      await verifyMfa({ email: user.email, recovery_code: user.recoveryCodes[0] ?? '' }),
      401,
    );
  }, 90_000);

  it('mails nobody without the password step, for unknown addresses or accounts without an app, and an access token does not help', async () => {
    const user = await userWithApp();
    const noApp = await registerVerifiedUser(api);
    const unknown = uniqueEmail('nobody');
    const openResets = async () =>
      (await api.deps.database.db.select().from(mfaResets).where(eq(mfaResets.userId, user.userId))).length;

    // The attacker holds an access token of a session (not re-authenticated), but not the password.
    expect(await mfaMethod(user.email)).toBe('totp');
    const session = await verifyMfa({ email: user.email, code: await appCode(user) });
    expect(session.status).toBe(200);
    const stolen = ((await session.json()) as { token: string }).token;

    // No login challenge, so no reset, and the same answer as for anyone else.
    const answers: unknown[] = [];
    for (const [email, token] of [[user.email, stolen], [unknown], [noApp.email]] as const) {
      const res = await requestReset(email, token);
      expect(res.status).toBe(202);
      answers.push(await res.json());
    }
    expect(await mfaMethod(noApp.email)).toBe('email'); // a password step, but no app to reset
    const res = await requestReset(noApp.email);
    expect(res.status).toBe(202);
    answers.push(await res.json());
    expect(new Set(answers.map((a) => JSON.stringify(a))).size).toBe(1);
    expect(await openResets()).toBe(0);
    const direct = await api.call('DELETE', '/api/v1/auth/mfa/totp', { token: stolen });
    expect((await expectProblem(direct, 403, 'forbidden')).reauthentication_required).toBe(true);

    // With the password step the owner gets the link; the earlier requests mailed nobody.
    await requestedReset(user.email);
    expect(await openResets()).toBe(1);
    await api.mailsSent();
    expect(await mailCount(user.email, /reset the authenticator/i)).toBe(1);
    expect(await mailCount(unknown)).toBe(0);
    expect(await mailCount(noApp.email, /reset the authenticator/i)).toBe(0);
  }, 90_000);

  it('is cancelled by the cancel link, a login with the app or a recovery code, and a password change, each mailing the owner', async () => {
    const ways: { way: string; why: RegExp; act: (user: AppUser, token: string) => Promise<Response> }[] = [
      { way: 'cancel link', why: /with the cancel link/, act: (_user, token) => cancel(token) },
      {
        way: 'authenticator app',
        why: /logged in with the authenticator app/,
        act: async (user) => verifyMfa({ email: user.email, code: await appCode(user) }),
      },
      {
        way: 'recovery code',
        why: /logged in with a recovery code/,
        act: (user) => verifyMfa({ email: user.email, recovery_code: user.recoveryCodes[0] ?? '' }),
      },
      {
        way: 'password change',
        why: /password was changed/,
        act: (user) =>
          api.call('POST', '/api/v1/auth/password/change', {
            token: user.token,
            body: { current_password: TEST_PASSWORD, new_password: TEST_PASSWORD },
          }),
      },
    ];

    const runs = await Promise.all(
      ways.map(async ({ way, why, act }) => {
        const user = await userWithApp();
        const reset = await scheduledReset(user.email); // leaves the login challenge open for the app's code
        const res = await act(user, reset.token);
        expect(res.status, way).toBe(200);
        const mail = await waitForMail(user.email, { subject: /reset .* was cancelled/i });
        expect(mail.text, way).toMatch(why);
        await expectProblem(await confirm(reset.token), 422);
        return { way, user, ...reset };
      }),
    );

    advanceTo(Math.max(...runs.map((r) => r.effectiveAt)) + 1000);
    for (const { way, user } of runs) expect(await mfaMethod(user.email), way).toBe('totp');
    await expectProblem(await cancel('x'.repeat(43)), 422, 'validation_failed');
  }, 120_000);

  it('limits reset requests per account, the same for known and unknown addresses', async () => {
    for (const email of [(await userWithApp()).email, uniqueEmail('nobody')]) {
      for (let i = 0; i < 5; i++) expect((await requestReset(email)).status).toBe(202);
      const limited = await expectProblem(await requestReset(email), 429, 'too_many_requests');
      expect(limited.retry_after).toBeGreaterThan(0);
    }
  }, 60_000);
});
