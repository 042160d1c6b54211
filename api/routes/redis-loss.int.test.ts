/**
 * The identity routes when Redis loses its data or goes away, on a `redis-server` of this file's own
 * (never the machine's). Trusted login sources are kept in Postgres: a Redis restarted empty neither mails
 * the owner about a login from their usual address again nor lets strangers lock them out from it
 * (ADR 0008). A password reset, a password change or a login whose Redis goes away once Postgres committed
 * it is done all the same: 200, its mails sent, the pending authenticator reset cancelled, the sessions it
 * ended refused by the session check (ADR 0017).
 */
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mfaResets } from '../../db/schema.js';
import { connectRedis } from '../../lib/redis.js';
import { eventually } from '../../test/eventually.js';
import { startPrivateRedis, type PrivateRedis } from '../../test/faults.js';
import { createTestApi, mailCount, waitForMail, type TestApi } from '../../test/helpers.js';
import { expectProblem } from '../../test/http.js';
import {
  loginWithEmailCode,
  registerUserWithApp,
  registerVerifiedUser,
  TEST_PASSWORD,
} from '../../test/users.js';
import { MAIL_SUBJECTS } from '../auth/mails.js';
import { authServices } from '../auth/services.js';
import { SESSION_CHECK_CACHE_MS } from '../auth/sessions.js';
import { codeForStep, timeStep } from '../auth/totp.js';

let redis: PrivateRedis;
let api: TestApi;
beforeAll(async () => {
  redis = await startPrivateRedis();
  api = await createTestApi({ REDIS_URL: redis.url, TRUSTED_PROXY_HOPS: '1' });
});
afterAll(async () => {
  await api?.close();
  await redis?.close();
});

const from = (address: string) => ({ 'x-forwarded-for': address });
const login = (email: string, password: string, headers?: Record<string, string>) =>
  api.call('POST', '/api/v1/auth/login', { body: { email, password }, headers });
const subject = (text: string) => new RegExp(text);

/** The state a restart leaves (the compose Redis keeps nothing on disk): every key gone. */
async function emptyRedis(): Promise<void> {
  const client = connectRedis(redis.url, 'test-flush');
  try {
    await client.flushdb();
  } finally {
    client.disconnect();
  }
}

type Method = (...args: unknown[]) => Promise<unknown>;

/** `target[method]` replaced by `wrap(original)` until the function returned puts it back. */
function replace<T extends object>(
  target: T,
  method: keyof T,
  wrap: (original: Method) => Method,
): () => void {
  const original = target[method] as Method;
  const slot = target as Record<keyof T, unknown>;
  slot[method] = wrap((...args) => original.apply(target, args));
  return () => void (slot[method] = original);
}

/**
 * Redis stops when `target[method]` is called with arguments `when` accepts: before the call goes on, or
 * once it returned (`after`). `restore` puts the method back and starts Redis again, empty.
 */
function stopRedisWhen<T extends object>(
  target: T,
  method: keyof T,
  when: (...args: unknown[]) => boolean,
  after = false,
): { restore: () => Promise<void> } {
  let stopped = false;
  const stop = async (args: unknown[]) => {
    if (!when(...args) || stopped) return;
    stopped = true;
    await redis.stop();
  };
  const putBack = replace(target, method, (original) => async (...args) => {
    if (!after) await stop(args);
    const result = await original(...args);
    if (after) await stop(args);
    return result;
  });
  return {
    async restore() {
      putBack();
      if (stopped) await redis.start();
    },
  };
}

const isRevocationMark = (key: unknown) => String(key).includes('auth:revoked-session:');
const portfolio = (token: string) => api.call('GET', '/api/v1/portfolio', { token });
const changePassword = (token: string, newPassword: string) =>
  api.call('POST', '/api/v1/auth/password/change', {
    token,
    body: { current_password: TEST_PASSWORD, new_password: newPassword },
  });

describe('Redis restarted empty', () => {
  it('forgets no trusted source: no second new-login mail, and strangers cannot lock the owner out', async () => {
    const user = await registerVerifiedUser(api);
    const home = from('198.51.100.7');
    await loginWithEmailCode(api, user.email, TEST_PASSWORD, home); // a new source: the owner is told
    await emptyRedis();
    await loginWithEmailCode(api, user.email, TEST_PASSWORD, home); // the usual one: nothing to tell
    await api.mailsSent();
    expect(await mailCount(user.email, subject(MAIL_SUBJECTS.newLogin))).toBe(1);

    await emptyRedis();
    // 110 wrong passwords from 11 addresses, 10 each (under the per-(account, address) limit).
    for (let source = 0; source < 11; source++)
      for (let i = 0; i < 10; i++)
        await login(user.email, `guess-${source}-${i}`, from(`203.0.113.${source + 10}`));
    // The per-account limit holds for strangers; the owner from home logs in as usual.
    await expectProblem(await login(user.email, 'guess-new', from('198.51.100.77')), 429);
    expect((await login(user.email, TEST_PASSWORD, home)).status).toBe(200);
  }, 120_000);
});

describe('Redis gone once Postgres committed', () => {
  /**
   * A user with an app, two sessions (the registration's and another) and a pending authenticator reset
   * (requested with the password, as one does who lost the app).
   */
  async function ownerWithPendingReset() {
    const owner = await registerUserWithApp(api);
    expect((await login(owner.email, TEST_PASSWORD)).status).toBe(200);
    const code = await codeForStep(owner.secret, timeStep(api.deps.now()) + 1);
    const other = await api.call('POST', '/api/v1/auth/verify_mfa', { body: { email: owner.email, code } });
    expect(other.status).toBe(200);
    const otherToken = ((await other.json()) as { token: string }).token;
    expect((await login(owner.email, TEST_PASSWORD)).status).toBe(200);
    const requested = await api.call('POST', '/api/v1/auth/mfa_reset/request', {
      body: { email: owner.email },
    });
    expect(requested.status).toBe(202);
    return { ...owner, otherToken };
  }

  const resetCancelReasons = async (userId: string) =>
    (await api.deps.database.db.select().from(mfaResets).where(eq(mfaResets.userId, userId))).map(
      (r) => r.cancelReason,
    );

  it.each(['reset', 'change'] as const)(
    'a password %s answers 200, mails the owner, cancels the pending authenticator reset and ends the sessions',
    async (kind) => {
      const owner = await ownerWithPendingReset();
      const newPassword = `a brand new passphrase, ${kind}`;
      let token: string | undefined;
      if (kind === 'reset') {
        const after = Date.now() - 1000;
        const forgot = await api.call('POST', '/api/v1/auth/password/forgot', {
          body: { email: owner.email },
        });
        expect(forgot.status).toBe(202);
        const mail = await waitForMail(owner.email, { subject: subject(MAIL_SUBJECTS.passwordReset), after });
        token = /token=([A-Za-z0-9_-]+)/.exec(mail.text)![1]!;
      }
      const after = Date.now() - 1000;
      // Redis stops as the first revocation mark is written, after Postgres committed the revocation.
      const fault = stopRedisWhen(api.deps.redis, 'set', isRevocationMark);
      let res: Response;
      try {
        res =
          kind === 'reset'
            ? await api.call('POST', '/api/v1/auth/password/reset', {
                body: { token, password: newPassword },
              })
            : await changePassword(owner.token, newPassword);
      } finally {
        await fault.restore();
      }
      expect(res.status, await res.text()).toBe(200);
      await api.mailsSent();
      await waitForMail(owner.email, { subject: subject(MAIL_SUBJECTS.passwordChanged), after });
      await waitForMail(owner.email, { subject: subject(MAIL_SUBJECTS.mfaResetCancelled), after });
      expect(await resetCancelReasons(owner.userId)).toEqual([`password_${kind}`]);
      // Without its Redis mark, the session ended is refused by the session check (Postgres).
      await eventually(async () => expect((await portfolio(owner.otherToken)).status).toBe(401));
      await eventually(async () => expect((await login(owner.email, newPassword)).status).toBe(200));
    },
    120_000,
  );

  it('a revocation mark Redis refuses: the session ended is refused once its kept live answer is over', async () => {
    const owner = await registerVerifiedUser(api);
    const other = await loginWithEmailCode(api, owner.email);
    expect((await portfolio(other.token)).status).toBe(200); // its live answer is kept in Redis
    const { sid } = JSON.parse(Buffer.from(other.token.split('.')[1]!, 'base64url').toString()) as {
      sid: string;
    };
    const putBack = replace(
      api.deps.redis,
      'set',
      (original) =>
        (...args) =>
          isRevocationMark(args[0]) ? Promise.reject(new Error('refused')) : original(...args),
    );
    let res: Response;
    try {
      res = await changePassword(owner.token, 'a brand new passphrase, marked');
    } finally {
      putBack();
    }
    expect(res.status, await res.text()).toBe(200);
    const prefix = api.deps.config.REDIS_PREFIX;
    expect(await api.deps.redis.exists(`${prefix}auth:revoked-session:${sid}`)).toBe(0);
    expect(await api.deps.redis.pttl(`${prefix}auth:live-session:${sid}`)).toBeLessThanOrEqual(
      SESSION_CHECK_CACHE_MS,
    );
    await eventually(async () => expect((await portfolio(other.token)).status).toBe(401));
  });

  it('a login answers 200 with its tokens and tells the owner of the new source', async () => {
    const user = await registerVerifiedUser(api);
    const after = Date.now() - 1000;
    const travel = from('198.51.100.9');
    expect((await login(user.email, TEST_PASSWORD, travel)).status).toBe(200);
    const code = /\b(\d{6})\b/.exec(
      (await waitForMail(user.email, { subject: subject(MAIL_SUBJECTS.loginCode), after })).text,
    )![1]!;
    const fault = stopRedisWhen(authServices(api.deps).sessions, 'issue', () => true, true);
    let res: Response;
    try {
      res = await api.call('POST', '/api/v1/auth/verify_mfa', {
        body: { email: user.email, code },
        headers: travel,
      });
    } finally {
      await fault.restore();
    }
    expect(res.status, await res.clone().text()).toBe(200);
    expect(await res.json()).toMatchObject({ token_type: 'Bearer', user_id: user.userId });
    await api.mailsSent();
    await waitForMail(user.email, { subject: subject(MAIL_SUBJECTS.newLogin), after });
  }, 120_000);
});
