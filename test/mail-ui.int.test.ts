/**
 * The mail catcher's web UI renders in a real browser (headless Chromium, Debian package `chromium`):
 * a mail sent over SMTP shows in Mailpit's inbox, and opening it shows its text. The screenshots land in
 * the git-ignored `.artifacts/` folder, to be looked at (issue 21).
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createMailer } from '../lib/mailer.js';
import { ARTIFACTS, chromium, withPage } from './browser.js';
import { mailSearchQuery, testConfig, uniqueEmail, waitForMail } from './helpers.js';

describe('Mailpit web UI', () => {
  it.skipIf(chromium.skip)(`lists a mail the test sent and opens it${chromium.note}`, async () => {
    const config = testConfig();
    const to = uniqueEmail('mail-ui');
    const subject = `Mail UI check ${to.slice(8, 20)}`;
    const mailer = createMailer(config.SMTP_URL, 'BrokerX <no-reply@brokerx.local>');
    try {
      await mailer.send({ to, subject, text: 'Your verification code is 424242.' });
    } finally {
      mailer.close();
    }
    await waitForMail(to, { subject: new RegExp(subject) });

    await withPage({ width: 1280, height: 800 }, async (page) => {
      const assets: number[] = [];
      page.on('response', (r) => {
        if (r.url().includes('/dist/')) assets.push(r.status());
      });
      // Open the search for the mail (the address Mailpit's search box leads to), not the inbox: other
      // tests' mails keep arriving, and the inbox would list them above it, push it to a later page and
      // shift its row under the click. A search's results stay as they are.
      await page.goto(`${config.MAILPIT_URL}/search?q=${mailSearchQuery(to)}`, { waitUntil: 'networkidle0' });
      // The list is rendered by the UI's JavaScript: without the built assets the page stays blank.
      const row = await page.waitForSelector(`::-p-text(${subject})`, { timeout: 15_000 });
      expect(assets.length).toBeGreaterThan(0);
      expect(assets.every((s) => s === 200)).toBe(true);
      await page.screenshot({ path: join(ARTIFACTS, 'mail-ui-search.png') });

      await row!.click();
      await page.waitForSelector('iframe, #nav-plain-text, .message-body', { timeout: 15_000 });
      // The message text renders in the page or in an iframe: read every frame (no DOM types here).
      const frameText: string[] = await Promise.all(
        page
          .frames()
          .map((f) => f.evaluate('document.body ? document.body.innerText : ""').then(String, () => '')),
      );
      expect(frameText.join('\n')).toContain('424242');
      await page.screenshot({ path: join(ARTIFACTS, 'mail-ui-message.png') });
    });
  });
});
