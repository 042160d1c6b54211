/**
 * The second factor against a stranger, an honest owner and races, on the real api (Postgres, Redis,
 * Mailpit): MFA attempt limits a stranger cannot spend and logins do not use up, verify_mfa doing the same
 * work whether or not an address has an account, recovery codes only beside an authenticator app, and a
 * login challenge void once the password it checked is reset. Races are made deterministic by holding a
 * row lock in a transaction of the test until the requests wait for it.
 */
import { and, eq, isNull, sql, type SQL } from 'drizzle-orm';
import { generate } from 'otplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recoveryCodes, refreshTokens, users } from '../../db/schema.js';
import { enableIoCounts, ioTotals } from '../../lib/io-counts.js';
import { eventually } from '../../test/eventually.js';
import { createTestApi, uniqueEmail, waitForMail, type TestApi } from '../../test/helpers.js';
import {
  loginCode,
  loginWithEmailCode,
  registerUserWithApp,
  registerVerifiedUser,
  TEST_PASSWORD,
} from '../../test/users.js';
import { MAIL_SUBJECTS } from '../auth/mails.js';

// This file's process counts its Redis commands and Postgres statements (before the api's clients exist).
enableIoCounts();

let api: TestApi;
beforeAll(async () => (api = await createTestApi({ TRUSTED_PROXY_HOPS: '1' })));
afterAll(() => api?.close());

type Factor = { code: string } | { recovery_code: string };
const from = (address: string) => ({ 'x-forwarded-for': address });
const verifyMfa = (email: string, factor: Factor, headers?: Record<string, string>) =>
  api.call('POST', '/api/v1/auth/verify_mfa', { body: { email, ...factor }, headers });
/** The `n`th 6-digit code that is not `code`. */
const wrongCode = (code: string, n: number) => String((Number(code) + 1 + n) % 1_000_000).padStart(6, '0');

/** The password step of a login (from `headers`' source): the mailed code, not sent yet. */
async function openLogin(email: string, headers?: Record<string, string>): Promise<string> {
  const after = Date.now() - 1000;
  const res = await api.call('POST', '/api/v1/auth/login', {
    body: { email, password: TEST_PASSWORD },
    headers,
  });
  expect(res.status).toBe(200);
  return loginCode(email, after);
}

async function expectProblem(res: Response, status: number): Promise<void> {
  expect(res.status, await res.text()).toBe(status);
  expect(res.headers.get('content-type')).toContain('application/problem+json');
}

/**
 * Run `lock` (a statement taking row locks) in a transaction of the test that stays open until `release`;
 * `waiting(n)` resolves once n sessions of this run's database wait for a lock.
 */
async function holdLock(lock: SQL) {
  const db = api.deps.database.db;
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let taken!: () => void;
  const isTaken = new Promise<void>((resolve) => (taken = resolve));
  const done = db.transaction(async (tx) => {
    await tx.execute(lock);
    taken();
    await released;
  });
  await Promise.race([isTaken, done]);
  return {
    waiting: (n: number) =>
      eventually(async () => {
        const [row] = await db.execute<{ n: number }>(
          sql`SELECT count(*)::int AS n FROM pg_stat_activity
               WHERE datname = current_database() AND wait_event_type = 'Lock'`,
        );
        expect(row?.n).toBe(n);
      }),
    release: async () => {
      release();
      await done;
    },
  };
}

describe('MFA limits a stranger cannot turn against the owner', () => {
  it("the owner's right code from home passes after a stranger's 25 wrong codes from five other addresses", async () => {
    const owner = await registerVerifiedUser(api);
    const home = from('198.51.100.7');
    await loginWithEmailCode(api, owner.email, TEST_PASSWORD, home); // home becomes trusted
    const code = await openLogin(owner.email, home);
    const stranger: number[] = [];
    for (let a = 0; a < 5; a++)
      for (let i = 0; i < 5; i++)
        stranger.push(
          (await verifyMfa(owner.email, { code: wrongCode(code, 5 * a + i) }, from(`203.0.113.${a + 1}`)))
            .status,
        );
    // The account's limit holds for the stranger: 20 wrong codes, then 429.
    expect(stranger).toEqual([...Array<number>(20).fill(401), ...Array<number>(5).fill(429)]);
    expect((await verifyMfa(owner.email, { code }, home)).status).toBe(200);
  });

  it("the owner's 21st login within the hour from one address is 200: right codes do not add up", async () => {
    const owner = await registerVerifiedUser(api);
    for (let i = 0; i < 21; i++)
      await loginWithEmailCode(api, owner.email, TEST_PASSWORD, from('198.51.100.9'));
  });

  it("counts a stranger's wrong codes from ever new addresses (429 after 20, also for the right code), not the owner's right one", async () => {
    const owner = await registerVerifiedUser(api);
    const travel = from('198.51.100.30'); // the owner's first login from here: not trusted yet
    const statuses: number[] = [];
    const guess = async (code: string, n: number) =>
      statuses.push(
        (await verifyMfa(owner.email, { code: wrongCode(code, n) }, from(`203.0.113.${100 + n}`))).status,
      );
    let code = await openLogin(owner.email, travel);
    for (let n = 0; n < 19; n++) await guess(code, n);
    // Counted before the check like any attempt from an untrusted source, and given back as it is right.
    expect((await verifyMfa(owner.email, { code }, travel)).status).toBe(200);
    code = await openLogin(owner.email, travel);
    for (let n = 19; n < 22; n++) await guess(code, n);
    expect(statuses).toEqual([...Array<number>(20).fill(401), 429, 429]);
    // Guessing stays bounded per account: from yet another address even the right code is refused.
    const blocked = await verifyMfa(owner.email, { code }, from('203.0.113.250'));
    await expectProblem(blocked, 429);
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(900);
    // From where the owner completed a login before, it passes.
    expect((await verifyMfa(owner.email, { code }, travel)).status).toBe(200);
  });
});

describe('verify_mfa does the same work whether or not an address has an account', () => {
  it('sends as many Redis commands and Postgres statements for an unknown address as for an account', async () => {
    const user = await registerVerifiedUser(api);
    await api.mailsSent();
    const ioOf = async (email: string) => {
      const before = ioTotals();
      await expectProblem(await verifyMfa(email, { code: '123456' }, from('192.0.2.60')), 401);
      const after = ioTotals();
      return {
        redis: after.redis_commands - before.redis_commands,
        postgres: after.postgres_statements - before.postgres_statements,
      };
    };
    const known = await ioOf(user.email);
    expect(known.redis).toBeGreaterThan(0);
    expect(known.postgres).toBeGreaterThan(0);
    expect(await ioOf(uniqueEmail('nobody'))).toEqual(known);
  });
});

describe('recovery codes only beside an authenticator app', () => {
  const db = () => api.deps.database.db;
  /** Whether the user has an app, and how many unused recovery codes. */
  const secondFactor = async (userId: string) => {
    const [user] = await db()
      .select({ enrolledAt: users.totpEnrolledAt })
      .from(users)
      .where(eq(users.id, userId));
    const live = await db()
      .select({ codeHash: recoveryCodes.codeHash })
      .from(recoveryCodes)
      .where(and(eq(recoveryCodes.userId, userId), isNull(recoveryCodes.usedAt)));
    return { app: user?.enrolledAt != null, codes: live.length };
  };
  /** A user with an app, re-authenticated (by a recovery code) and with a new app's setup started. */
  const replacingApp = async () => {
    const user = await registerUserWithApp(api);
    const reauth = await api.call('POST', '/api/v1/auth/reauthenticate', {
      token: user.token,
      body: { password: user.password, recovery_code: user.recoveryCodes[0] },
    });
    expect(reauth.status).toBe(200);
    const setup = await api.call('POST', '/api/v1/auth/mfa/totp/setup', { token: user.token });
    const { secret } = (await setup.json()) as { secret: string };
    return { ...user, code: await generate({ secret }) };
  };
  const activate = (user: { token: string; code: string }) =>
    api.call('POST', '/api/v1/auth/mfa/totp/activate', { token: user.token, body: { code: user.code } });
  const remove = (user: { token: string }) =>
    api.call('DELETE', '/api/v1/auth/mfa/totp', { token: user.token });

  it('a removal landing while the activation writes its recovery codes leaves none behind', async () => {
    const user = await replacingApp();
    // The old codes are held: the activation waits while writing the new ones, the removal lands then.
    const held = await holdLock(
      sql`SELECT 1 FROM recovery_codes WHERE user_id = ${user.userId}::uuid FOR UPDATE`,
    );
    const activated = activate(user);
    await held.waiting(1);
    const removed = remove(user);
    await held.waiting(2);
    await held.release();
    expect([(await activated).status, (await removed).status]).toEqual([200, 200]);
    expect(await secondFactor(user.userId)).toEqual({ app: false, codes: 0 });
  });

  it('activation racing removal never leaves recovery codes without an app (10 tries)', async () => {
    for (let trial = 0; trial < 10; trial++) {
      const user = await replacingApp();
      const [a, r] = await Promise.all([
        activate(user),
        new Promise((resolve) => setTimeout(resolve, trial % 4)).then(() => remove(user)),
      ]);
      expect([200, 409]).toContain(a.status);
      expect(r.status).toBe(200);
      const state = await secondFactor(user.userId);
      expect(state.app || state.codes === 0, JSON.stringify(state)).toBe(true);
    }
  });

  it('refuses a recovery code on a login that asks for a mailed code (401), then the mailed code works', async () => {
    const user = await registerUserWithApp(api);
    // Codes left without an app (what the race above used to leave): the login mails a code.
    await db().update(users).set({ totpEnrolledAt: null }).where(eq(users.id, user.userId));
    const code = await openLogin(user.email);
    await expectProblem(await verifyMfa(user.email, { recovery_code: user.recoveryCodes[0]! }), 401);
    expect((await verifyMfa(user.email, { code })).status).toBe(200);
  });
});

describe('a login whose password step predates a reset gets no session', () => {
  const attacker = from('203.0.113.50');
  /** The token of a reset link mailed now. */
  const resetToken = async (email: string) => {
    const after = Date.now() - 1000;
    const forgot = await api.call('POST', '/api/v1/auth/password/forgot', { body: { email } });
    expect(forgot.status).toBe(202);
    await api.mailsSent();
    const mail = await waitForMail(email, { subject: new RegExp(MAIL_SUBJECTS.passwordReset), after });
    return /token=([A-Za-z0-9_-]+)/.exec(mail.text)![1]!;
  };
  const reset = (token: string, password: string) =>
    api.call('POST', '/api/v1/auth/password/reset', { body: { token, password } });
  const sessionsOf = async (userId: string) =>
    (
      await api.deps.database.db
        .select({ id: refreshTokens.id })
        .from(refreshTokens)
        .where(eq(refreshTokens.userId, userId))
    ).length;

  it('a challenge the login opens with the old password, even after the reset, is void', async () => {
    const owner = await registerVerifiedUser(api);
    const code = await openLogin(owner.email, attacker); // the old password
    const key = `${api.deps.config.REDIS_PREFIX}auth:mfa-challenge:${owner.userId}`;
    const challenge = (await api.deps.redis.get(key))!;
    expect((await reset(await resetToken(owner.email), 'a brand new passphrase for ada')).status).toBe(200);
    // The login's write of its challenge lands after the reset (their race): it is there, but void.
    await api.deps.redis.set(key, challenge, 'EX', 600);
    const sessions = await sessionsOf(owner.userId);
    await expectProblem(await verifyMfa(owner.email, { code }, attacker), 401);
    expect(await sessionsOf(owner.userId)).toBe(sessions);
  });

  it('a reset committing while verify_mfa runs leaves it no session', async () => {
    const owner = await registerVerifiedUser(api);
    const code = await openLogin(owner.email, attacker);
    const sessions = await sessionsOf(owner.userId);
    // The reset's write of the new hash, not committed yet: verify_mfa reads the old hash, then waits.
    const held = await holdLock(
      sql`UPDATE users SET password_hash = 'reset meanwhile' WHERE id = ${owner.userId}::uuid`,
    );
    const verified = verifyMfa(owner.email, { code }, attacker);
    await held.waiting(1);
    await held.release();
    await expectProblem(await verified, 401);
    expect(await sessionsOf(owner.userId)).toBe(sessions);
  });

  it('a login with the old password racing a reset never gets a session (10 tries)', async () => {
    for (let trial = 0; trial < 10; trial++) {
      const owner = await registerVerifiedUser(api);
      const token = await resetToken(owner.email);
      const after = Date.now() - 1000;
      const login = api.call('POST', '/api/v1/auth/login', {
        body: { email: owner.email, password: TEST_PASSWORD },
        headers: attacker,
      });
      await new Promise((resolve) => setTimeout(resolve, (trial % 5) * 3));
      expect((await reset(token, `a brand new passphrase ${trial}`)).status).toBe(200);
      if ((await login).status !== 200) continue; // the login read the new hash
      const code = await loginCode(owner.email, after);
      await expectProblem(await verifyMfa(owner.email, { code }, attacker), 401);
    }
  });
});
