/**
 * Getting back into an account through the trader's page (web/src/views/Account.tsx) in a real browser
 * (headless Chromium) against the api with its live feed on a real port, Postgres, Redis and Mailpit. The
 * mails' links are opened in the browser as the user clicks them:
 *
 * - "Forgot password?" on the login view mails a reset link (the same answer for an unknown address); the
 *   link's page sets a new password, shows the api's validation message under its input, and the new
 *   password logs in; the link works once;
 * - the unlock link of the lockout mail (100 wrong passwords from 10 addresses) lets the device that
 *   presses its button log in; strangers stay limited;
 * - "Lost your authenticator app?" at the login code mails the reset links; the confirm link schedules
 *   the removal, the cancel link stops it.
 *
 * Signed in, or on the way in:
 *
 * - at the login code of an account with an authenticator app, "Use a recovery code" logs in with one of
 *   its recovery codes (the api's refusals shown), which works once;
 * - "Change password" in the header: the api's refusals (wrong current password, a new one too short)
 *   shown without ending the session, a mismatch caught on the page; then the other sessions end, this
 *   one goes on, and the new password logs in.
 * - "Authenticator app": the password (a wrong one shown, the session goes on), then the code mailed for
 *   it, then the app's setup (QR code and key, a first code, the recovery codes shown once); later the
 *   password and a recovery code, and the app's removal;
 * - "Sessions": this session and the other one, which its "End" button ends (its token is refused).
 *
 * With the shortest idle timeout the config allows (60 s, access tokens of 30 s), a page left alone logs
 * out at the idle timeout without ever refreshing, while a page of the same user in use (a key every few
 * seconds) refreshes and stays live, and lists itself as the only session left.
 *
 * Opening a link sends nothing to the api (a mail scanner spends no token): only the button does. Every
 * view is checked with axe-core, and no page logs an error or a CSP refusal. On a failure the page is
 * saved as a screenshot into the git-ignored .artifacts/ folder.
 */
import { join } from 'node:path';
import { eq } from 'drizzle-orm';
import { generate } from 'otplib';
import type { Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { serveWithFeed, type ServedFeed } from '../api/ws/testing.js';
import { mfaResets } from '../db/schema.js';
import { freePort } from '../devstack/processes.js';
import { ARTIFACTS, chromium, withPage } from './browser.js';
import { createTestApi, uniqueEmail, waitForMail, type TestApi } from './helpers.js';
import { expectProblem } from './http.js';
import {
  expectAccessible,
  expectFocus,
  fieldErrorOf,
  fill,
  inputOf,
  logInThroughPage,
  pageProblems,
  submit,
  textOf,
  textsOf,
  waitForText,
} from './page-driver.js';
import { reauthCode, registerUserWithApp, registerVerifiedUser, TEST_PASSWORD } from './users.js';

/** The api requests a page makes from now on, as `METHOD /path`. */
function apiCalls(page: Page): string[] {
  const calls: string[] = [];
  page.on('request', (r) => {
    const url = new URL(r.url());
    if (url.pathname.startsWith('/api/')) calls.push(`${r.method()} ${url.pathname}`);
  });
  return calls;
}

describe.skipIf(chromium.skip)(
  `getting back into an account through the page${chromium.note}`,
  { timeout: 120_000 },
  () => {
    let api: TestApi;
    let served: ServedFeed;
    let base = '';

    beforeAll(async () => {
      const port = await freePort();
      base = `http://127.0.0.1:${port}`;
      // The mails' links point at this server; the feed accepts this page's origin; X-Forwarded-For
      // names the source, so a test can log in from many addresses.
      api = await createTestApi({ PUBLIC_URL: base, ALLOWED_ORIGINS: base, TRUSTED_PROXY_HOPS: '1' });
      served = await serveWithFeed(api.app, api.deps, {}, port);
    });

    afterAll(async () => {
      await served?.close();
      await api?.close();
    });

    const from = (address: string) => ({ 'x-forwarded-for': address });
    const apiLogin = (email: string, password: string, headers?: Record<string, string>) =>
      api.call('POST', '/api/v1/auth/login', { body: { email, password }, headers });

    /**
     * Run `body` on a fresh page (seen from `address` when given); `calls` lists the api requests the page
     * made (`METHOD /path`). On failure the page is saved as a screenshot.
     */
    async function inPage(
      name: string,
      body: (page: Page, calls: string[]) => Promise<void>,
      address?: string,
    ) {
      await withPage({ width: 1200, height: 900 }, async (page) => {
        const problems = pageProblems(page);
        const calls = apiCalls(page);
        if (address) await page.setExtraHTTPHeaders(from(address));
        try {
          await page.goto(`${base}/`, { waitUntil: 'networkidle0' });
          await body(page, calls);
          expect(problems, 'errors logged by the page').toEqual([]);
        } catch (err) {
          await page
            .screenshot({ path: join(ARTIFACTS, `web-account-failure-${name}.png`), fullPage: true })
            .catch(() => {});
          throw err;
        }
      });
    }

    /** The links to `path` of this server in a mail, in order. */
    const linksIn = (text: string, path: string) =>
      [...text.matchAll(/https?:\/\/\S+/g)].map((m) => m[0]).filter((l) => l.startsWith(`${base}${path}?`));

    /** Open a mailed link as the user clicks it: the page shows, and nothing is sent to the api. */
    async function openLink(page: Page, link: string, calls: string[]) {
      // From a blank page, so that a request of the page before does not count.
      await page.goto('about:blank');
      calls.length = 0;
      await page.goto(link, { waitUntil: 'networkidle0' });
      expect(calls, `api requests on opening ${link}`).toEqual([]);
    }

    it('mails a reset link from "Forgot password?", sets a new password through it and logs in with that', async () => {
      const user = await registerVerifiedUser(api);
      const newPassword = 'a brand new passphrase 42';
      await inPage('password-reset', async (p, calls) => {
        await p.click('::-p-text(Forgot password?)');
        await p.waitForSelector('form[aria-label="Forgot password"]');
        await expectAccessible(p, 'forgot password');
        /** Ask for a link for `email`; the answer shown, then back to an empty form. */
        const ask = async (email: string) => {
          await fill(p, 'Forgot password', { email });
          await submit(p, 'Forgot password');
          await p.waitForSelector('main .form-note');
          const answer = await textOf(p, 'main .form-note');
          await p.click('::-p-text(Back to login)');
          await p.click('::-p-text(Forgot password?)');
          await p.waitForSelector('form[aria-label="Forgot password"]');
          return answer;
        };
        // An address without an account gets the owner's answer, word for word.
        const unknown = await ask(uniqueEmail('nobody'));
        const after = Date.now() - 1000;
        const owner = await ask(user.email);
        expect(owner).toBe(unknown);
        expect(owner).toMatch(/^If this address has an account, we mailed it a link/);
        await p.screenshot({ path: join(ARTIFACTS, 'web-account-forgot.png') });

        const mail = await waitForMail(user.email, { subject: /reset your brokerx password/i, after });
        const [link] = linksIn(mail.text, '/reset-password');
        await openLink(p, link!, calls);
        await p.waitForSelector('form[aria-label="New password"]');
        await expectAccessible(p, 'new password');

        // The api's validation message shows under the input it names.
        await fill(p, 'New password', { password: 'short', password_again: 'short' });
        await submit(p, 'New password');
        await waitForText(p, fieldErrorOf('New password', 'password'), /must be at least 8 characters/);
        await expectAccessible(p, 'new password with an error');
        await p.screenshot({ path: join(ARTIFACTS, 'web-account-new-password.png') });
        // A commonly breached one: 422 password_too_common, its reason under the same input.
        await fill(p, 'New password', { password: 'Password123!', password_again: 'Password123!' });
        await submit(p, 'New password');
        await waitForText(p, fieldErrorOf('New password', 'password'), /one of the most common passwords/);
        // Two different entries are caught on the page, before anything is sent.
        calls.length = 0;
        await fill(p, 'New password', { password: newPassword, password_again: `${newPassword}!` });
        await submit(p, 'New password');
        await waitForText(
          p,
          fieldErrorOf('New password', 'password_again'),
          'does not match the new password',
        );
        expect(calls).toEqual([]);
        expect(await p.$(fieldErrorOf('New password', 'password'))).toBeNull();

        await fill(p, 'New password', { password_again: newPassword });
        await submit(p, 'New password');
        await p.waitForSelector('::-p-text(Password changed. Log in with the new password.)');
        expect(calls).toEqual(['POST /api/v1/auth/password/reset']);
        expect(await p.evaluate('location.pathname')).toBe('/');
        // The reset ended the old session, and the old password is no use any more.
        await expectProblem(await api.call('GET', '/api/v1/portfolio', { token: user.token }), 401);
        await expectProblem(await apiLogin(user.email, TEST_PASSWORD), 401, 'unauthorized');
        await logInThroughPage(p, user.email, newPassword);

        // The link worked once: the page says so and offers a new one.
        await openLink(p, link!, calls);
        await fill(p, 'New password', { password: newPassword, password_again: newPassword });
        await submit(p, 'New password');
        await waitForText(
          p,
          'form[aria-label="New password"] .form-error',
          'Invalid or expired reset link: the link is invalid, expired or already used.',
        );
        await p.click('::-p-text(Mail me a new link)');
        await p.waitForSelector('form[aria-label="Forgot password"]');
        expect(await p.evaluate('location.pathname')).toBe('/');
      });
    });

    it('unlocks login for the device that presses the button of the lockout mail link', async () => {
      const user = await registerVerifiedUser(api);
      // 100 wrong passwords from 10 addresses: with the owner's first login (from a source not yet
      // trusted then) the per-account limit for untrusted sources is passed, and the lockout mail goes out.
      await Promise.all(
        Array.from({ length: 10 }, async (_, source) => {
          for (let i = 0; i < 10; i++) {
            const res = await apiLogin(user.email, `guess-${source}-${i}`, from(`198.18.0.${source + 1}`));
            expect([401, 429]).toContain(res.status);
          }
        }),
      );

      await inPage(
        'unlock',
        async (p, calls) => {
          // The owner, from a new place, is refused.
          await fill(p, 'Log in', { email: user.email, password: TEST_PASSWORD });
          await submit(p, 'Log in');
          await waitForText(p, 'form[aria-label="Log in"] .form-error', /Too many attempts/);
          const mail = await waitForMail(user.email, { subject: /failed logins/i });
          const [link] = linksIn(mail.text, '/unlock');
          expect(link).toMatch(/\/unlock\?token=[A-Za-z0-9_-]+$/);

          await openLink(p, link!, calls);
          await p.waitForSelector('form[aria-label="Unlock login"]');
          await expectAccessible(p, 'unlock');
          // By keyboard: past the skip link, the button, then Enter.
          await p.keyboard.press('Tab');
          await p.keyboard.press('Tab');
          await expectFocus(p, 'textContent', 'Unlock this device');
          await p.keyboard.press('Enter');
          await p.waitForSelector('::-p-text(You can log in from this device now)');
          expect(calls).toEqual(['POST /api/v1/auth/unlock']);
          await expectAccessible(p, 'unlocked');
          await p.click('::-p-text(Go to login)');
          await logInThroughPage(p, user.email, TEST_PASSWORD);
        },
        '198.18.1.1',
      );
      // Strangers stay limited.
      await expectProblem(
        await apiLogin(user.email, 'guess-again', from('198.18.0.77')),
        429,
        'too_many_requests',
      );
    });

    it('asks for an authenticator reset at the login code, confirms it from the mailed link and cancels it from the other', async () => {
      const user = await registerUserWithApp(api);
      const resets = () =>
        api.deps.database.db.select().from(mfaResets).where(eq(mfaResets.userId, user.userId));

      await inPage('authenticator-reset', async (p, calls) => {
        await fill(p, 'Log in', { email: user.email, password: TEST_PASSWORD });
        await submit(p, 'Log in');
        await p.waitForSelector('::-p-text(Code from your authenticator app)');
        await p.click('::-p-text(Lost your authenticator app?)');
        await p.waitForSelector('::-p-text(a link was mailed to it)');
        await expectAccessible(p, 'login code, reset asked');
        await p.screenshot({ path: join(ARTIFACTS, 'web-account-lost-app.png') });
        const mail = await waitForMail(user.email, { subject: /reset the authenticator/i });
        const [confirmLink, cancelLink] = linksIn(mail.text, '/reset-authenticator');
        expect(cancelLink).toBe(`${confirmLink}&cancel=1`);

        await openLink(p, confirmLink!, calls);
        await p.waitForSelector('::-p-text(only after a waiting period)');
        await expectAccessible(p, 'confirm the authenticator reset');
        expect((await resets()).map((r) => r.confirmedAt)).toEqual([null]);
        await submit(p, 'Confirm the authenticator reset');
        await p.waitForSelector('main time[datetime]');
        const [scheduled] = await resets();
        expect(scheduled?.confirmedAt).not.toBeNull();
        // The api's answer: when the app goes.
        expect(await p.evaluate(`document.querySelector('main time').getAttribute('datetime')`)).toBe(
          scheduled!.effectiveAt!.toISOString(),
        );
        await p.screenshot({ path: join(ARTIFACTS, 'web-account-reset-confirmed.png') });
        await waitForMail(user.email, { subject: /will be removed/i });

        // The confirm link works once: the api's refusal shows.
        await openLink(p, confirmLink!, calls);
        await submit(p, 'Confirm the authenticator reset');
        await waitForText(
          p,
          'form[aria-label="Confirm the authenticator reset"] .form-error',
          'Invalid or expired reset link: the link is invalid, expired, already used or cancelled.',
        );

        await openLink(p, cancelLink!, calls);
        await p.waitForSelector('form[aria-label="Cancel the authenticator reset"]');
        await expectAccessible(p, 'cancel the authenticator reset');
        expect((await resets()).map((r) => r.cancelledAt)).toEqual([null]);
        await submit(p, 'Cancel the authenticator reset');
        await p.waitForSelector('::-p-text(No authenticator reset is pending; the app keeps working)');
        expect(calls).toEqual(['POST /api/v1/auth/mfa_reset/cancel']);
        expect((await resets()).map((r) => r.cancelReason)).toEqual(['cancel_link']);
        await waitForMail(user.email, { subject: /was cancelled/i });
      });
      // The app keeps working: a login still asks for it.
      const res = await apiLogin(user.email, TEST_PASSWORD);
      expect(((await res.json()) as { mfa_method: string }).mfa_method).toBe('totp');
    });

    it('logs in with a recovery code at the login code of an account with an authenticator app, each code once', async () => {
      const user = await registerUserWithApp(api);
      const [recoveryCode] = user.recoveryCodes;
      await inPage('recovery-code', async (p) => {
        const sent: unknown[] = [];
        p.on('request', (r) => {
          if (r.url().endsWith('/api/v1/auth/verify_mfa')) sent.push(JSON.parse(r.postData() ?? '{}'));
        });
        const startLogin = async () => {
          await fill(p, 'Log in', { email: user.email, password: TEST_PASSWORD });
          await submit(p, 'Log in');
          await p.waitForSelector('::-p-text(Code from your authenticator app)');
          await p.click('::-p-text(Use a recovery code)');
          await p.waitForSelector(inputOf('Login code', 'recovery_code'));
        };
        await startLogin();
        expect(await p.$(inputOf('Login code', 'code')), 'the recovery code replaces the code').toBeNull();
        await expectAccessible(p, 'login with a recovery code');

        // The api's refusals: not shaped like a recovery code (under the input), an unknown one (above the button).
        await fill(p, 'Login code', { recovery_code: '123456' });
        await submit(p, 'Login code');
        await waitForText(p, fieldErrorOf('Login code', 'recovery_code'), 'is not a recovery code');
        await expectAccessible(p, 'recovery code with an error');
        await fill(p, 'Login code', { recovery_code: 'AAAAA-BBBBB' });
        await submit(p, 'Login code');
        await waitForText(p, 'form[aria-label="Login code"] .form-error', 'The code is invalid or expired');
        expect(await p.$(fieldErrorOf('Login code', 'recovery_code'))).toBeNull();
        await p.screenshot({ path: join(ARTIFACTS, 'web-account-recovery-code.png') });

        // Typed in lower case, it is still the code.
        const after = Date.now() - 1000;
        await fill(p, 'Login code', { recovery_code: recoveryCode!.toLowerCase() });
        await submit(p, 'Login code');
        await waitForText(p, '[data-testid="feed-state"]', /Live feed: Live/);
        expect(sent.at(-1)).toEqual({ email: user.email, recovery_code: recoveryCode!.toLowerCase() });
        const notice = await waitForMail(user.email, { subject: /second factor was changed/i, after });
        expect(notice.text).toMatch(/a recovery code was used to log in/);

        // The code is spent: the next login cannot use it.
        await p.click('::-p-text(Log out)');
        await p.waitForSelector('::-p-text(You are logged out.)');
        await startLogin();
        await fill(p, 'Login code', { recovery_code: recoveryCode! });
        await submit(p, 'Login code');
        await waitForText(p, 'form[aria-label="Login code"] .form-error', 'The code is invalid or expired');
        // And back to the app's code.
        await p.click('::-p-text(Use the code from your app)');
        await p.waitForSelector(inputOf('Login code', 'code'));
        expect(
          await p.$('form[aria-label="Login code"] .form-error'),
          'the refusal went with its input',
        ).toBeNull();
      });
    });

    it('changes the password while signed in: refusals shown without ending the session, then the other sessions end and the new password logs in', async () => {
      // `user.token` is another session of the same user (the api login of the fixture).
      const user = await registerVerifiedUser(api);
      const newPassword = 'another fine passphrase 7';
      const form = 'Change password';
      const formError = `form[aria-label="${form}"] .form-error`;
      await inPage('password-change', async (p, calls) => {
        await logInThroughPage(p, user.email, TEST_PASSWORD);
        const opener = 'header button[aria-expanded]';
        expect(await textOf(p, opener)).toBe('Change password');
        await p.click(opener);
        await p.waitForSelector(`form[aria-label="${form}"]`);
        await expectFocus(p, 'id', 'change-password-title');
        await expectAccessible(p, 'change password');

        // A wrong current password: the api's 401 shows, and the session goes on.
        await fill(p, form, {
          current_password: 'not my password',
          new_password: newPassword,
          new_password_again: newPassword,
        });
        await submit(p, form);
        await waitForText(p, formError, 'The current password is not correct');
        expect(await textOf(p, '[data-testid="feed-state"]')).toMatch(/Live feed: Live/);
        expect(await p.$(`form[aria-label="${form}"]`)).not.toBeNull();

        // Too short a new password: the api's 422 names it, its message shows under its input.
        await fill(p, form, {
          current_password: TEST_PASSWORD,
          new_password: 'short',
          new_password_again: 'short',
        });
        await submit(p, form);
        await waitForText(p, fieldErrorOf(form, 'new_password'), /must be at least 8 characters/);
        expect(await p.$(formError)).toBeNull();
        // One that contains the address (422 password_too_common): under the new password too.
        const withAddress = `my ${user.email} pass`;
        await fill(p, form, { new_password: withAddress, new_password_again: withAddress });
        await submit(p, form);
        await waitForText(p, fieldErrorOf(form, 'new_password'), /must not contain your email address/);
        expect(await p.$(formError)).toBeNull();
        await expectAccessible(p, 'change password with an error');
        await p.screenshot({ path: join(ARTIFACTS, 'web-account-change-password.png'), fullPage: true });

        // Two different entries are caught on the page, before anything is sent.
        calls.length = 0;
        await fill(p, form, { new_password: newPassword, new_password_again: `${newPassword}!` });
        await submit(p, form);
        await waitForText(p, fieldErrorOf(form, 'new_password_again'), 'does not match the new password');
        expect(calls).toEqual([]);

        const after = Date.now() - 1000;
        await fill(p, form, { new_password_again: newPassword });
        await submit(p, form);
        await waitForText(p, '#change-password .form-note', 'Password changed; other sessions were ended.');
        expect(calls).toEqual(['POST /api/v1/auth/password/change']);
        expect(
          await p.evaluate(
            `document.querySelector(${JSON.stringify(inputOf(form, 'current_password'))}).value`,
          ),
          'the form is empty again',
        ).toBe('');
        await expectAccessible(p, 'password changed');
        await waitForMail(user.email, { subject: /password was changed/i, after });

        // The other session ended; this one goes on.
        await expectProblem(await api.call('GET', '/api/v1/portfolio', { token: user.token }), 401);
        await fill(p, 'Deposit', { amount: '25.00' });
        await submit(p, 'Deposit');
        await waitForText(p, '[data-testid="cash-available"]', '$25.00');
        // Closed, the focus goes back to the header's button.
        await p.click('#change-password .panel-head button');
        await p.waitForSelector('#change-password', { hidden: true });
        await expectFocus(p, 'textContent', 'Change password');

        await p.click('::-p-text(Log out)');
        await p.waitForSelector('::-p-text(You are logged out.)');
        await expectProblem(await apiLogin(user.email, TEST_PASSWORD), 401, 'unauthorized');
        await logInThroughPage(p, user.email, newPassword);
      });
    });

    it('re-authenticates with the password and the second factor, then sets up, and later removes, an authenticator app', async () => {
      const user = await registerVerifiedUser(api);
      const panel = 'header ::-p-text(Authenticator app)';
      await inPage('authenticator', async (p, calls) => {
        await logInThroughPage(p, user.email, TEST_PASSWORD);
        await p.click(panel);
        await p.waitForSelector('form[aria-label="Confirm it is you"]');
        await expectFocus(p, 'id', 'authenticator-title');
        await expectAccessible(p, 'authenticator: password');

        // A wrong password: shown, and the session goes on.
        await fill(p, 'Confirm it is you', { password: 'not my password' });
        await submit(p, 'Confirm it is you');
        await waitForText(
          p,
          'form[aria-label="Confirm it is you"] .form-error',
          'The password is not correct',
        );
        expect(await textOf(p, '[data-testid="feed-state"]')).toMatch(/Live feed: Live/);

        // Mailed codes: the password, then the code the api mails for this.
        const after = Date.now() - 1000;
        await fill(p, 'Confirm it is you', { password: TEST_PASSWORD });
        await submit(p, 'Confirm it is you');
        const second = 'Confirm with your second factor';
        await p.waitForSelector(`form[aria-label="${second}"]`);
        await fill(p, second, { code: await reauthCode(user.email, after) });
        await submit(p, second);
        await p.locator('::-p-text(Set up an authenticator app)').click();
        await p.waitForSelector('form[aria-label="Activate the authenticator app"] img');
        await expectAccessible(p, 'authenticator: scan');
        const secret = (await textOf(p, '[data-testid="totp-secret"]')) ?? '';
        await fill(p, 'Activate the authenticator app', { code: await generate({ secret }) });
        await submit(p, 'Activate the authenticator app');
        await p.waitForSelector('[data-testid="recovery-codes"] li');
        const recoveryCodes = await textsOf(p, '[data-testid="recovery-codes"] li');
        expect(recoveryCodes).toHaveLength(10);
        await expectAccessible(p, 'authenticator: recovery codes');

        // Later: the app's code, or a recovery code, confirms; then remove the app.
        await p.click('#authenticator .panel-head button');
        await p.click(panel);
        await fill(p, 'Confirm it is you', { password: TEST_PASSWORD });
        await submit(p, 'Confirm it is you');
        await p.waitForSelector(`form[aria-label="${second}"]`);
        expect(await textOf(p, `form[aria-label="${second}"] label`)).toMatch(/authenticator app/);
        await p.click(`form[aria-label="${second}"] ::-p-text(Use a recovery code)`);
        await fill(p, second, { recovery_code: recoveryCodes[0]! });
        calls.length = 0;
        await submit(p, second);
        await p.locator('::-p-text(Remove the authenticator app)').click();
        await waitForText(p, '#authenticator .form-note', /Authenticator app removed/);
        expect(calls).toEqual(['POST /api/v1/auth/reauthenticate', 'DELETE /api/v1/auth/mfa/totp']);
        const login = await apiLogin(user.email, TEST_PASSWORD);
        expect(((await login.json()) as { mfa_method: string }).mfa_method).toBe('email');
      });
    });

    it('lists the sessions under "Sessions" and ends another one with its "End" button', async () => {
      // `user.token` is the fixture's api login: the other session, from no browser.
      const user = await registerVerifiedUser(api);
      await inPage('sessions', async (p, calls) => {
        await logInThroughPage(p, user.email, TEST_PASSWORD);
        await p.click('header ::-p-text(Sessions)');
        await p.waitForSelector('[data-testid="sessions"] tr[data-session]');
        await expectFocus(p, 'id', 'sessions-title');
        const rows = () => textsOf(p, '[data-testid="sessions"] tr[data-session]');
        await vi.waitFor(async () => expect(await rows()).toHaveLength(2));
        const [mine, other] = await rows().then((r) =>
          r[0]!.includes('This session') ? [r[0]!, r[1]!] : [r[1]!, r[0]!],
        );
        expect(mine).toContain('HeadlessChrome');
        expect(other).not.toContain('This session');
        expect(await p.$$('[data-testid="sessions"] button')).toHaveLength(1);
        await expectAccessible(p, 'sessions');
        await p.screenshot({ path: join(ARTIFACTS, 'web-account-sessions.png'), fullPage: true });

        calls.length = 0;
        await p.click('[data-testid="sessions"] button');
        await waitForText(p, '#sessions .form-note', 'Session ended.');
        await vi.waitFor(async () => expect(await rows()).toHaveLength(1));
        expect((await rows())[0]).toContain('This session');
        expect(calls[0]).toMatch(/^DELETE \/api\/v1\/auth\/sessions\/[0-9a-f-]{36}$/);
        await expectProblem(await api.call('GET', '/api/v1/portfolio', { token: user.token }), 401);
        // This session goes on.
        expect(await textOf(p, '[data-testid="feed-state"]')).toMatch(/Live feed: Live/);
        await p.click('#sessions .panel-head button');
        await p.waitForSelector('#sessions', { hidden: true });
        await expectFocus(p, 'textContent', 'Sessions');
      });
    });
  },
);

describe.skipIf(chromium.skip)(
  `the idle timeout with the page open${chromium.note}`,
  { timeout: 240_000 },
  () => {
    // The shortest the config allows: access tokens of 30 s, sessions idle out after 60 s.
    const IDLE_SECONDS = 60;
    let api: TestApi;
    let served: ServedFeed;
    let base = '';

    beforeAll(async () => {
      const port = await freePort();
      base = `http://127.0.0.1:${port}`;
      api = await createTestApi({
        PUBLIC_URL: base,
        ALLOWED_ORIGINS: base,
        ACCESS_TOKEN_TTL_SECONDS: '30',
        REFRESH_IDLE_TIMEOUT_SECONDS: String(IDLE_SECONDS),
      });
      served = await serveWithFeed(api.app, api.deps, {}, port);
    });

    afterAll(async () => {
      await served?.close();
      await api?.close();
    });

    it('an unattended page logs out at the idle timeout without refreshing; a page in use refreshes and stays', async () => {
      const user = await registerVerifiedUser(api);
      // Two browsers: each page is in the foreground of its own (a background tab's frames are throttled).
      const viewport = { width: 1200, height: 900 };
      await withPage(viewport, (idle) =>
        withPage(viewport, async (used) => {
          const problems = [...[idle, used].map(pageProblems)];
          const calls = new Map<Page, string[]>([
            [idle, apiCalls(idle)],
            [used, apiCalls(used)],
          ]);
          try {
            for (const page of [idle, used]) {
              await page.goto(`${base}/`, { waitUntil: 'networkidle0' });
              await logInThroughPage(page, user.email, TEST_PASSWORD);
            }
            const idleSince = Date.now();
            // The user works in one page (a key now and then); nobody touches the other.
            let working = true;
            const work = (async () => {
              while (working) {
                await used.keyboard.press('Shift');
                await new Promise((r) => setTimeout(r, 3_000));
              }
            })();
            try {
              await idle.waitForSelector('::-p-text(You were logged out after a while without activity)', {
                timeout: (IDLE_SECONDS + 30) * 1000,
              });
              expect(Date.now() - idleSince).toBeGreaterThan((IDLE_SECONDS - 10) * 1000);
              expect(calls.get(idle)).not.toContain('POST /api/v1/auth/refresh');
              expect(calls.get(idle)).toContain('POST /api/v1/auth/logout');
              // Past the idle timeout the page in use is still signed in and live, through its refreshes.
              await vi.waitFor(
                () => expect(Date.now() - idleSince).toBeGreaterThan((IDLE_SECONDS + 5) * 1000),
                { timeout: 20_000, interval: 1_000 },
              );
              expect(calls.get(used)).toContain('POST /api/v1/auth/refresh');
              await waitForText(used, '[data-testid="feed-state"]', /Live feed: Live/);
            } finally {
              working = false;
              await work;
            }
            // The unattended page's session is gone: the page in use lists itself only.
            await used.click('header ::-p-text(Sessions)');
            await used.waitForSelector('[data-testid="sessions"] tr[data-session]');
            const rows = await textsOf(used, '[data-testid="sessions"] tr[data-session]');
            // (The fixture's api login, never refreshed, has idled out too.)
            expect(rows).toHaveLength(1);
            expect(rows[0]).toContain('This session');
            for (const list of problems) expect(list, 'errors logged by the pages').toEqual([]);
          } catch (err) {
            for (const [page, name] of [
              [idle, 'idle'],
              [used, 'used'],
            ] as const)
              await page
                .screenshot({ path: join(ARTIFACTS, `web-account-failure-${name}.png`), fullPage: true })
                .catch(() => {});
            throw err;
          }
        }),
      );
    });
  },
);
