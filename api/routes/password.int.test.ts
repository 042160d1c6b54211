/**
 * A password change spends the reset links mailed before it: a link asked for under the old password
 * (by the owner, or by whoever reads the mailbox) cannot set a password over the new one afterwards. And
 * a reset that commits after a change checked the old password stands: the change writes nothing (409).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../test/eventually.js';
import { createTestApi, mailsTo, waitForMail, type TestApi } from '../../test/helpers.js';
import { blockedBy, holding } from '../../test/locks.js';
import { registerVerifiedUser, TEST_PASSWORD } from '../../test/users.js';

let api: TestApi;
beforeAll(async () => (api = await createTestApi()));
afterAll(() => api?.close());

/** Ask for a reset link; the token of the link mailed (not `previous`, mailed just before). */
async function resetLink(email: string, previous?: string): Promise<string> {
  const after = Date.now() - 1000;
  expect((await api.call('POST', '/api/v1/auth/password/forgot', { body: { email } })).status).toBe(202);
  return eventually(async () => {
    const mail = await waitForMail(email, { subject: /reset your/i, after });
    const token = /token=([A-Za-z0-9_-]+)/.exec(mail.text)?.[1];
    if (!token || token === previous) throw new Error(`no new reset link in the mails to ${email}`);
    return token;
  });
}

/** The answer to a reset, but its request id. */
const reset = async (token: string, password: string) => {
  const res = await api.call('POST', '/api/v1/auth/password/reset', { body: { token, password } });
  const { request_id: _, ...body } = (await res.json()) as Record<string, unknown>;
  return { status: res.status, body };
};
const login = (email: string, password: string) =>
  api.call('POST', '/api/v1/auth/login', { body: { email, password } });

describe('password change and reset links', () => {
  it('a change spends the outstanding reset links: they answer as a used link does', async () => {
    const user = await registerVerifiedUser(api);
    const before = await resetLink(user.email);
    const changed = await api.call('POST', '/api/v1/auth/password/change', {
      token: user.token,
      body: { current_password: TEST_PASSWORD, new_password: 'the-owner-s-new-password' },
    });
    expect(changed.status).toBe(200);

    const refused = await reset(before, 'an-intruder-s-password');
    // A link used once, for comparison.
    const used = await resetLink(user.email, before);
    expect((await reset(used, 'the-owner-s-newer-password')).status).toBe(200);
    const reused = await reset(used, 'an-intruder-s-password');

    expect(reused.status).toBe(422);
    expect(refused).toEqual(reused);
    expect((await login(user.email, 'an-intruder-s-password')).status).toBe(401);
    expect((await login(user.email, 'the-owner-s-newer-password')).status).toBe(200);
  });
});

describe('a password change and a reset at once', () => {
  it('a reset committed after the change checked the old password stands: the change is 409 and does nothing', async () => {
    const user = await registerVerifiedUser(api);
    const link = await resetLink(user.email);
    const database = api.deps.database;
    // Another transaction holds the user row: the reset waits for it before it writes; the change (a
    // stolen session that knows the old password) checks the old password meanwhile, then waits to write
    // behind the reset.
    const holder = await holding(
      database,
      (tx) => tx`SELECT 1 FROM users WHERE id = ${user.userId} FOR UPDATE`,
    );
    const resetting = reset(link, 'the owner took the account back');
    const resetPid = await blockedBy(database, holder.pid);
    const changing = api.call('POST', '/api/v1/auth/password/change', {
      token: user.token,
      body: { current_password: TEST_PASSWORD, new_password: 'an intruder keeps the account' },
    });
    await blockedBy(database, resetPid);
    holder.release();

    expect((await resetting).status).toBe(200);
    const changed = await changing;
    expect(changed.status).toBe(409);
    expect(await changed.json()).toMatchObject({
      code: 'conflict',
      detail: expect.stringMatching(/changed meanwhile/) as unknown,
    });
    expect((await login(user.email, 'the owner took the account back')).status).toBe(200);
    expect((await login(user.email, 'an intruder keeps the account')).status).toBe(401);
    // Only the reset's notice: the change mailed nothing.
    await api.mailsSent();
    const notices = await mailsTo(user.email, /password was changed/i);
    expect(notices.map((m) => /was reset with a link/.test(m.text))).toEqual([true]);
  });
});
