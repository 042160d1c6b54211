/**
 * A suspension (ADR 0008) against a login in flight when it answers: the user's requests go to a second
 * api instance, the operator's to the fixture's, and a transaction of the test holds the user's recovery
 * codes so that verify_mfa waits after it read the user active and before it stores the session.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApi, uniqueEmail, type TestApi } from '../../test/helpers.js';
import { expectProblem } from '../../test/http.js';
import { blockedBy, holding } from '../../test/locks.js';
import { startTradingFixture, type TradingFixture } from '../../test/trading.js';
import { TEST_PASSWORD, loginWithEmailCode, registerUserWithApp } from '../../test/users.js';

let fx: TradingFixture;
let other: TestApi;
let operatorToken: string;

beforeAll(async () => {
  fx = await startTradingFixture('suspension');
  other = await createTestApi(fx.env);
  const email = uniqueEmail('ops');
  const made = await fx.script('scripts/operator-create.ts', ['--email', email], {
    OPERATOR_PASSWORD: TEST_PASSWORD,
  });
  expect(made.code, made.stdout).toBe(0);
  operatorToken = (await loginWithEmailCode(fx.api, email)).token;
}, 180_000);
afterAll(async () => {
  await other?.close();
  await fx?.close();
});

const act = (kind: 'suspend' | 'reinstate', userId: string) =>
  fx.api.call('POST', `/api/v1/admin/users/${userId}/${kind}`, {
    token: operatorToken,
    body: { reason: kind === 'suspend' ? 'account takeover suspected' : 'owner verified' },
  });

describe('a suspension against a login in flight', () => {
  it('verify_mfa that read the user active before the suspension answered issues no session, not even one that lives again at reinstatement', async () => {
    const user = await registerUserWithApp(other);
    const passwordStep = () =>
      other.call('POST', '/api/v1/auth/login', { body: { email: user.email, password: TEST_PASSWORD } });
    expect((await passwordStep()).status).toBe(200);
    // verify_mfa read the user active and the challenge open, and waits to spend the recovery code.
    const holder = await holding(
      fx.database,
      (tx) => tx`SELECT 1 FROM recovery_codes WHERE user_id = ${user.userId} FOR UPDATE`,
    );
    const verifying = other.call('POST', '/api/v1/auth/verify_mfa', {
      body: { email: user.email, recovery_code: user.recoveryCodes[0] },
    });
    await blockedBy(fx.database, holder.pid);
    const suspended = await act('suspend', user.userId);
    expect(suspended.status, await suspended.text()).toBe(200);
    holder.release();
    await expectProblem(await verifying, 401);

    // Reinstated, the user logs in again; the login that was in flight left no session behind.
    expect((await act('reinstate', user.userId)).status).toBe(200);
    expect((await passwordStep()).status).toBe(200);
    const back = await other.call('POST', '/api/v1/auth/verify_mfa', {
      body: { email: user.email, recovery_code: user.recoveryCodes[1] },
    });
    expect(back.status).toBe(200);
    const { token } = (await back.json()) as { token: string };
    const listed = await other.call('GET', '/api/v1/auth/sessions', { token });
    expect(listed.status).toBe(200);
    const { sessions } = (await listed.json()) as { sessions: { current: boolean }[] };
    expect(sessions.map((s) => s.current)).toEqual([true]);
  });
});
