/**
 * The trader's page (web/) in a real browser (headless Chromium from Debian, driven by puppeteer-core)
 * against the test stack: the api with its live feed on a real port, the workers, Temporal, Mailpit.
 *
 * - one trader end to end: register, the verification link from the mail, login with the mailed code,
 *   deposit, a limit order that shows in open orders, replace, cancel;
 * - the api's validation errors appear under the input they name;
 * - two browser contexts whose orders cross: both pages show the fill without a reload and the cash to
 *   the cent;
 * - the server drops every WebSocket and refuses new ones while the two trade again: the pages reconnect
 *   and show each execution once, the seqs without gap or repeat;
 * - a stop order: the api's refusals under the stop price, then waiting for its trigger (its stop price
 *   replaced), triggered by another page's trade and filled, live; its timeline with the stop prices;
 * - cancel-all after a confirmation (declined first), for one symbol and then for all, with the count;
 * - the timeline of a filled order in its details, beside the executions;
 * - a deposit, an order, a replace and a cancel whose answer is lost (the connection reset after the api
 *   carried them out), pressed again: carried out once, with the same Idempotency-Key or client_order_id
 *   and body (a replace's client_version too, though the page has read the order's new version since).
 *
 * Every view is checked with axe-core (no violations) and no page logs an error or a CSP refusal. On a
 * failure every open page is saved as a screenshot into the git-ignored .artifacts/ folder; the passing
 * run saves the tour's screenshots there too (web-*.png).
 */
import { join } from 'node:path';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { serve, type ServerType } from '@hono/node-server';
import type { Browser, BrowserContext, Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiFeed, type FeedServer } from '../api/ws/server.js';
import { freePort } from '../devstack/processes.js';
import { ARTIFACTS, chromium, launchChromium } from './browser.js';
import { uniqueEmail } from './helpers.js';
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
  waitForText,
} from './page-driver.js';
import { startTradingFixture, eventually, type TradingFixture } from './trading.js';
import {
  createFundedUser,
  loginWithEmailCode,
  TEST_PASSWORD,
  verificationToken,
  type FundedTestUser,
} from './users.js';

const SYMBOL = 'AAPL';
const TICKET = 'Order ticket';

/** A request as the page sent it: its headers and its JSON body (`{ order: { ... } }`). */
interface SentRequest {
  headers: Record<string, string>;
  body: Record<string, Record<string, string>>;
}

/** Everything a page logged that a working page must not: errors, CSP refusals. */
const problems = new Map<Page, string[]>();

describe.skipIf(chromium.skip)(`the trader's page in a browser${chromium.note}`, { timeout: 120_000 }, () => {
  let fx: TradingFixture;
  let base: string;
  let server: ServerType;
  let feed: FeedServer;
  let browser: Browser;
  /** Upgrades (sockets) the server took, to drop them; while `refuse` is set, new ones are cut at once. */
  const sockets = new Set<Duplex>();
  let refuse = false;

  beforeAll(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    // The mail's links point at this server; the feed accepts this page's origin.
    fx = await startTradingFixture('web-page', { env: { PUBLIC_URL: base, ALLOWED_ORIGINS: base } });
    feed = createApiFeed(fx.api.deps);
    server = serve({ fetch: fx.api.app.fetch, port, hostname: '127.0.0.1' });
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (refuse) return void socket.destroy();
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      feed.handleUpgrade(req, socket, head);
    });
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await feed?.close();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    await fx?.close();
  });

  /** Run `body` with fresh browser contexts; on failure screenshot every page into .artifacts/. */
  async function withPages(name: string, count: number, body: (pages: Page[]) => Promise<void>) {
    const contexts: BrowserContext[] = [];
    const pages: Page[] = [];
    try {
      for (let i = 0; i < count; i++) {
        const context = await browser.createBrowserContext();
        contexts.push(context);
        pages.push(await openPage(context));
      }
      await body(pages);
      for (const page of pages) expect(problems.get(page), 'errors logged by the page').toEqual([]);
    } catch (err) {
      await Promise.all(
        pages.map((p, i) =>
          p
            .screenshot({ path: join(ARTIFACTS, `web-failure-${name}-${i + 1}.png`), fullPage: true })
            .catch(() => {}),
        ),
      );
      throw err;
    } finally {
      await Promise.all(contexts.map((c) => c.close()));
    }
  }

  async function openPage(context: BrowserContext): Promise<Page> {
    const page = await context.newPage();
    await page.setViewport({ width: 1400, height: 1000 });
    problems.set(page, pageProblems(page));
    await page.goto(`${base}/`, { waitUntil: 'networkidle0' });
    return page;
  }

  /** Log in through the page with the code mailed for this login. */
  const login = (page: Page, email: string) => logInThroughPage(page, email, TEST_PASSWORD);

  async function placeOrder(page: Page, order: Record<string, string>) {
    await fill(page, TICKET, { symbol: SYMBOL, ...order });
    await submit(page, TICKET);
  }

  /** A limit order of another client, through the api (201). */
  async function placeThroughApi(token: string, order: Record<string, string>) {
    const res = await fx.api.call('POST', '/api/v1/orders', {
      token,
      body: { order: { symbol: SYMBOL, order_type: 'limit', ...order } },
    });
    expect(res.status, await res.clone().text()).toBe(201);
    return (await res.json()) as { id: string };
  }

  /** The order as the api has it, and the steps of its timeline. */
  async function orderNow(token: string, id: string) {
    const order = (await (await fx.api.call('GET', `/api/v1/orders/${id}`, { token })).json()) as {
      status: string;
      price: number;
      lock_version: number;
    };
    const timeline = (await (
      await fx.api.call('GET', `/api/v1/orders/${id}/timeline`, { token })
    ).json()) as { events: { type: string }[] };
    return { ...order, steps: timeline.events.map((e) => e.type) };
  }

  /** The steps of the order timeline in the details, oldest first. */
  const timelineSteps = (page: Page) =>
    page.evaluate(
      `[...document.querySelectorAll('[data-testid="order-timeline"] li[data-step]')].map((li) => li.dataset.step)`,
    ) as Promise<string[]>;

  /** The data-seq of every activity row, oldest first. */
  const activitySeqs = async (page: Page) =>
    (
      (await page.evaluate(
        `[...document.querySelectorAll('[data-testid="activity"] li[data-seq]')].map((li) => Number(li.dataset.seq))`,
      )) as number[]
    ).reverse();

  const fills = (page: Page) =>
    page.evaluate(
      `document.querySelectorAll('[data-testid="activity"] li[data-exec-type="fill"]').length`,
    ) as Promise<number>;

  const cents = async (page: Page, testId: string) => {
    const t = (await textOf(page, `[data-testid="${testId}"]`)) ?? '';
    const m = /^\$([\d,]+)\.(\d\d)$/.exec(t.trim());
    if (!m) throw new Error(`${testId} is not an amount: ${t}`);
    return BigInt(m[1]!.replace(/,/g, '') + m[2]!);
  };

  /**
   * The answer to the page's first `method` request to `path` is lost after the api carried it out (the
   * connection reset on its way back); later ones pass. Returns the requests the page sent there.
   */
  async function loseFirstAnswer(page: Page, method: string, path: string) {
    const cdp = await page.createCDPSession();
    const sent: SentRequest[] = [];
    await cdp.send('Fetch.enable', { patterns: [{ urlPattern: `*${path}`, requestStage: 'Response' }] });
    cdp.on('Fetch.requestPaused', ({ requestId, request }) => {
      if (request.method === method)
        sent.push({
          headers: request.headers,
          body: JSON.parse(request.postData ?? '{}') as SentRequest['body'],
        });
      if (request.method === method && sent.length === 1)
        void cdp.send('Fetch.failRequest', { requestId, errorReason: 'ConnectionReset' });
      else void cdp.send('Fetch.continueRequest', { requestId });
    });
    return sent;
  }

  /** The page logs the lost answers' resets: expected where the test made them. */
  function forgetConnectionResets(page: Page) {
    const logged = problems.get(page)!;
    logged.splice(0, logged.length, ...logged.filter((m) => !m.includes('ERR_CONNECTION_RESET')));
  }

  it('registers, verifies through the mailed link, logs in with the mailed code, deposits, places, replaces and cancels a limit order', async () => {
    await withPages('one-trader', 1, async ([page]) => {
      const p = page!;
      expect((await fx.api.call('GET', '/')).headers.get('content-security-policy')).toContain(
        "frame-ancestors 'none'",
      );
      await expectAccessible(p, 'login');
      // Keyboard: Tab reaches the skip link, then the first field, with a visible focus outline.
      await p.keyboard.press('Tab');
      await expectFocus(p, 'textContent', 'Skip to content');
      await p.keyboard.press('Tab');
      await expectFocus(p, 'name', 'email');
      expect(await p.evaluate('getComputedStyle(document.activeElement).outlineStyle')).toBe('solid');
      await p.screenshot({ path: join(ARTIFACTS, 'web-login.png') });

      const email = uniqueEmail('web');
      await p.click('::-p-text(Open an account)');
      await p.waitForSelector('form[aria-label="Open an account"]');
      await expectAccessible(p, 'register');
      await fill(p, 'Open an account', {
        email,
        first_name: 'Ada',
        last_name: 'Trader',
        password: TEST_PASSWORD,
      });
      await submit(p, 'Open an account');
      await p.waitForSelector('::-p-text(Follow the link in that mail)');

      // The mail's link, as the user clicks it: this server's /verify page.
      const mail = await verificationToken(email);
      await p.goto(`${base}/verify?token=${mail}`, { waitUntil: 'networkidle0' });
      await p.waitForSelector('::-p-text(Email verified)');
      await expectAccessible(p, 'verify');
      await p.click('::-p-text(Go to login)');
      await p.waitForSelector('::-p-text(Your account is active)');
      expect(await p.evaluate('location.pathname')).toBe('/');

      await login(p, email);
      await expectAccessible(p, 'trading');
      await fill(p, 'Deposit', { amount: '2500.50' });
      await submit(p, 'Deposit');
      await waitForText(p, '[data-testid="cash-available"]', '$2,500.50');

      await placeOrder(p, {
        direction: 'buy',
        order_type: 'limit',
        quantity: '10',
        price: '185.25',
        time_in_force: 'GTC',
      });
      const open = '#open-orders tr[data-status="working"]';
      await p.waitForSelector(open);
      await waitForText(p, `${open} [data-testid="order-price"]`, '185.25');
      await waitForText(p, '[data-testid="cash-reserved"]', '$1,852.50');
      await waitForText(p, '[data-testid="cash-available"]', '$648.00');
      await p.waitForSelector('[data-testid="activity"] li[data-exec-type="new"]');
      await p.screenshot({ path: join(ARTIFACTS, 'web-trading.png'), fullPage: true });

      await p.click(`${open} button[aria-label^="Replace"]`);
      await fill(p, `Replace buy 10 ${SYMBOL}`, { quantity: '12', price: '184.50' });
      await expectAccessible(p, 'replace');
      await submit(p, `Replace buy 10 ${SYMBOL}`);
      await waitForText(p, `${open} [data-testid="order-price"]`, '184.50');
      await waitForText(p, '[data-testid="cash-reserved"]', '$2,214.00');
      await p.waitForSelector('[data-testid="activity"] li[data-exec-type="replaced"]');

      await p.click(`${open} button[aria-label^="Details"]`);
      await p.waitForSelector('#order-details');
      const saga = (await p.evaluate(`document.querySelector('#order-details a').href`)) as string;
      expect(saga).toMatch(/\/namespaces\/[^/]+\/workflows\/order-[0-9a-f-]{36}-web-[0-9a-f-]{36}$/);
      await expectAccessible(p, 'order details');
      await p.screenshot({ path: join(ARTIFACTS, 'web-order-details.png'), fullPage: true });
      await p.click('::-p-text(Close details)');

      await p.click(`${open} button[aria-label^="Cancel"]`);
      await p.waitForSelector('::-p-text(No open orders.)');
      await waitForText(p, '[data-testid="cash-reserved"]', '$0.00');
      await waitForText(p, '[data-testid="cash-available"]', '$2,500.50');
      await p.waitForSelector('#history tr[data-status="cancelled"]');
      await p.waitForSelector('[data-testid="activity"] li[data-exec-type="canceled"]');

      await p.click('::-p-text(Log out)');
      await p.waitForSelector('::-p-text(You are logged out.)');
    });
  });

  it('shows the api validation errors under the input they name', async () => {
    const user = await createFundedUser(fx.api, '100.00');
    await withPages('validation', 1, async ([page]) => {
      const p = page!;
      await login(p, user.email);
      await placeOrder(p, { direction: 'buy', order_type: 'limit', quantity: '1.5', price: '0' });
      await p.waitForSelector(fieldErrorOf(TICKET, 'quantity'));
      expect(await textOf(p, fieldErrorOf(TICKET, 'quantity'))).toMatch(/decimals/);
      expect(await textOf(p, fieldErrorOf(TICKET, 'price'))).toMatch(/must be positive/);
      expect(await p.$(fieldErrorOf(TICKET, 'symbol'))).toBeNull();
      const described = (await p.evaluate(
        `(() => { const i = document.querySelector('${inputOf(TICKET, 'price')}'); return [i.getAttribute('aria-invalid'), document.getElementById(i.getAttribute('aria-describedby')).textContent]; })()`,
      )) as [string, string];
      expect(described[0]).toBe('true');
      expect(described[1]).toMatch(/must be positive/);
      await expectAccessible(p, 'ticket with errors');
      await p.screenshot({ path: join(ARTIFACTS, 'web-validation.png') });

      // Insufficient funds names no field: it shows above the button.
      await placeOrder(p, { quantity: '10', price: '190.00' });
      await p.waitForSelector('form[aria-label="Order ticket"] .form-error');
      expect(await textOf(p, 'form[aria-label="Order ticket"] .form-error')).toMatch(/Insufficient funds/i);
      expect(await p.$(fieldErrorOf(TICKET, 'price'))).toBeNull();
    });
  });

  it('a deposit pressed again after its answer was lost is made once: the same Idempotency-Key', async () => {
    const user = await createFundedUser(fx.api, '0');
    await withPages('deposit-retry', 1, async ([page]) => {
      const p = page!;
      await login(p, user.email);
      const sent = await loseFirstAnswer(p, 'POST', '/api/v1/deposits');
      await fill(p, 'Deposit', { amount: '100.00' });
      await submit(p, 'Deposit');
      await waitForText(p, 'form[aria-label="Deposit"] .form-error', /cannot be reached/);
      await submit(p, 'Deposit');
      await waitForText(p, 'form[aria-label="Deposit"] .form-note', 'Deposited $100.00');
      await waitForText(p, '[data-testid="cash-available"]', '$100.00');
      const key = sent[0]!.headers['idempotency-key'];
      expect(key).toMatch(/^[0-9a-f-]{36}$/);
      expect(sent.map((r) => r.headers['idempotency-key'])).toEqual([key, key]);
      expect(await fx.balance(user.accountId)).toEqual({ available: 10000n, reserved: 0n });
      forgetConnectionResets(p);
    });
  });

  it('an order submitted again after its answer was lost is placed once: the same client_order_id', async () => {
    const user = await createFundedUser(fx.api, '1000.00');
    await withPages('order-retry', 1, async ([page]) => {
      const p = page!;
      await login(p, user.email);
      const sent = await loseFirstAnswer(p, 'POST', '/api/v1/orders');
      const order = {
        symbol: 'TSLA',
        direction: 'buy',
        order_type: 'limit',
        quantity: '1',
        price: '200.00',
        time_in_force: 'GTC',
      };
      await placeOrder(p, order);
      await waitForText(p, 'form[aria-label="Order ticket"] .form-error', /cannot be reached/);
      await submit(p, TICKET);
      await waitForText(p, 'form[aria-label="Order ticket"] .form-note', 'Buy 1 TSLA: Working');
      const id = sent[0]!.body.order?.client_order_id;
      expect(id).toMatch(/^web-/);
      expect(sent.map((r) => r.body)).toEqual([
        { order: { ...order, client_order_id: id } },
        { order: { ...order, client_order_id: id } },
      ]);
      const res = await fx.api.call('GET', '/api/v1/orders', { token: user.token });
      const { orders } = (await res.json()) as { orders: { id: string; client_order_id: string }[] };
      expect(orders.map((o) => o.client_order_id)).toEqual([id]);
      expect(await fx.balance(user.accountId)).toEqual({ available: 80000n, reserved: 20000n });
      await waitForText(p, '[data-testid="cash-reserved"]', '$200.00');
      forgetConnectionResets(p);
      const cancelled = await fx.api.call('POST', `/api/v1/orders/${orders[0]!.id}/cancel`, {
        token: user.token,
        body: {},
      });
      expect(cancelled.status).toBe(200);
    });
  });

  it('a replace pressed again after its answer was lost is made once: the same Idempotency-Key and body', async () => {
    const user = await createFundedUser(fx.api, '1000.00');
    const { id } = await placeThroughApi(user.token, {
      symbol: 'TSLA',
      direction: 'buy',
      quantity: '1',
      price: '220.00',
      time_in_force: 'GTC',
    });
    await withPages('replace-retry', 1, async ([page]) => {
      const p = page!;
      await login(p, user.email);
      const row = `#open-orders tr[data-order="${id}"]`;
      const form = 'Replace buy 1 TSLA';
      await p.waitForSelector(row);
      const sent = await loseFirstAnswer(p, 'POST', `/api/v1/orders/${id}/replace`);
      await p.click(`${row} button[aria-label^="Replace"]`);
      await fill(p, form, { price: '210.00' });
      await submit(p, form);
      await waitForText(p, `form[aria-label="${form}"] .form-error`, /cannot be reached/);
      // The feed told the page of the replace: it has read the order's new version since.
      await waitForText(p, `${row} [data-testid="order-price"]`, '210.00');
      await submit(p, form);
      await p.waitForSelector(`form[aria-label="${form}"]`, { hidden: true });
      expect(await p.$('#open-orders .form-error')).toBeNull();
      const now = await orderNow(user.token, id);
      expect(now).toMatchObject({ status: 'working', price: 210, lock_version: 1 });
      expect(now.steps.filter((s) => s === 'replaced')).toEqual(['replaced']);
      expect(await fx.balance(user.accountId)).toEqual({ available: 79000n, reserved: 21000n });
      await waitForText(p, '[data-testid="cash-reserved"]', '$210.00');
      const key = sent[0]!.headers['idempotency-key'];
      expect(key).toMatch(/^[0-9a-f-]{36}$/);
      expect(sent.map((r) => r.headers['idempotency-key'])).toEqual([key, key]);
      const body = { order: { client_version: 0, quantity: '1', price: '210.00' } };
      expect(sent.map((r) => r.body)).toEqual([body, body]);
      forgetConnectionResets(p);
      await fx.api.call('DELETE', `/api/v1/orders/${id}`, { token: user.token });
    });
  });

  it('a cancel pressed again after its answer was lost (the feed down too) gets the first answer', async () => {
    const user = await createFundedUser(fx.api, '1000.00');
    const { id } = await placeThroughApi(user.token, {
      symbol: 'TSLA',
      direction: 'buy',
      quantity: '1',
      price: '200.00',
      time_in_force: 'GTC',
    });
    await withPages('cancel-retry', 1, async ([page]) => {
      const p = page!;
      await login(p, user.email);
      const row = `#open-orders tr[data-order="${id}"]`;
      await p.waitForSelector(row);
      const sent = await loseFirstAnswer(p, 'POST', `/api/v1/orders/${id}/cancel`);
      // No feed event re-reads the order: the second press finds it still listed.
      refuse = true;
      for (const socket of sockets) socket.destroy();
      try {
        await waitForText(p, '[data-testid="feed-state"]', /Reconnecting/);
        // Nor does a reload the feed started before it went down (its 'live').
        await p.waitForNetworkIdle({ idleTime: 500 });
        await p.click(`${row} button[aria-label^="Cancel"]`);
        await waitForText(p, '#open-orders .form-error', /cannot be reached/);
        await p.click(`${row} button[aria-label^="Cancel"]`);
        await p.waitForSelector(row, { hidden: true });
      } finally {
        refuse = false;
      }
      expect(await p.$('#open-orders .form-error')).toBeNull();
      const now = await orderNow(user.token, id);
      expect(now).toMatchObject({ status: 'cancelled', lock_version: 1 });
      expect(now.steps.filter((s) => s === 'cancelled')).toEqual(['cancelled']);
      expect(await fx.balance(user.accountId)).toEqual({ available: 100000n, reserved: 0n });
      await waitForText(p, '[data-testid="cash-reserved"]', '$0.00');
      const key = sent[0]!.headers['idempotency-key'];
      expect(key).toMatch(/^[0-9a-f-]{36}$/);
      expect(sent.map((r) => r.headers['idempotency-key'])).toEqual([key, key]);
      expect(sent.map((r) => r.body)).toEqual([{ client_version: 0 }, { client_version: 0 }]);
      forgetConnectionResets(p);
    });
  });

  describe('two traders whose orders cross', () => {
    let buyer: FundedTestUser;
    let seller: FundedTestUser;
    beforeAll(async () => {
      [buyer, seller] = await Promise.all([
        createFundedUser(fx.api, '5000.00'),
        createFundedUser(fx.api, '0', { [SYMBOL]: 100n }),
      ]);
    });

    it('both pages show the fill without a reload and the portfolio changes to the cent', async () => {
      await withPages('cross', 2, async ([buyerPage, sellerPage]) => {
        const b = buyerPage!;
        const s = sellerPage!;
        await login(b, buyer.email);
        await login(s, seller.email);
        await waitForText(b, '[data-testid="cash-available"]', '$5,000.00');
        await waitForText(s, `[data-position="${SYMBOL}"] td`, '100');

        await placeOrder(s, {
          direction: 'sell',
          order_type: 'limit',
          quantity: '7',
          price: '191.45',
          time_in_force: 'GTC',
        });
        await s.waitForSelector('#open-orders tr[data-status="working"]');
        await placeOrder(b, {
          direction: 'buy',
          order_type: 'limit',
          quantity: '7',
          price: '191.45',
          time_in_force: 'IOC',
        });

        // 7 x 191.45 = 1,340.15
        for (const page of [b, s])
          await page.waitForSelector('[data-testid="activity"] li[data-exec-type="fill"]');
        expect(await fills(b)).toBe(1);
        expect(await fills(s)).toBe(1);
        await waitForText(b, '[data-testid="cash-available"]', '$3,659.85');
        await waitForText(b, '[data-testid="cash-reserved"]', '$0.00');
        await waitForText(s, '[data-testid="cash-available"]', '$1,340.15');
        await waitForText(b, `[data-position="${SYMBOL}"] td`, '7');
        await waitForText(s, `[data-position="${SYMBOL}"] td`, '93');
        // The last price is the trade's: 93 x 191.45 = 17,804.85.
        await waitForText(s, '[data-testid="positions-value"]', '$17,804.85');
        await waitForText(b, '[data-testid="best-bid"]', '—');
        await b.waitForSelector('[data-testid="last-trades"] ::-p-text(191.45)');
        expect(await fx.balance(buyer.accountId)).toEqual({ available: 365985n, reserved: 0n });
        expect(await cents(b, 'cash-available')).toBe(365985n);
        expect(await cents(s, 'cash-available')).toBe(134015n);
        await b.screenshot({ path: join(ARTIFACTS, 'web-buyer-filled.png'), fullPage: true });
        await s.screenshot({ path: join(ARTIFACTS, 'web-seller-filled.png'), fullPage: true });

        await b.click('#history tr[data-status="filled"] button[aria-label^="Details"]');
        await b.waitForSelector('[data-testid="order-executions"] ::-p-text(191.45)');
      });
    });

    it('a dropped WebSocket reconnects and shows every execution once', async () => {
      await withPages('reconnect', 2, async ([buyerPage, sellerPage]) => {
        const b = buyerPage!;
        const s = sellerPage!;
        await login(b, buyer.email);
        await login(s, seller.email);
        await placeOrder(s, {
          direction: 'sell',
          order_type: 'limit',
          quantity: '2',
          price: '190.00',
          time_in_force: 'GTC',
        });
        await s.waitForSelector('[data-testid="activity"] li[data-exec-type="new"]');

        const held = async (u: FundedTestUser) => (await fx.balance(u.accountId, SYMBOL)).available;
        const [buyerHeld, sellerHeld] = [await held(buyer), await held(seller)];
        // The server drops every socket and refuses new ones while the two trade through the api.
        refuse = true;
        for (const socket of sockets) socket.destroy();
        try {
          for (const page of [b, s]) await waitForText(page, '[data-testid="feed-state"]', /Reconnecting/);
          const [bApi, sApi] = await Promise.all([
            loginWithEmailCode(fx.api, buyer.email),
            loginWithEmailCode(fx.api, seller.email),
          ]);
          const one = { quantity: '1' };
          // Two fills of the resting sell (1 + 1), and a new resting sell.
          for (let i = 0; i < 2; i++)
            await placeThroughApi(bApi.token, {
              ...one,
              direction: 'buy',
              price: '190.00',
              time_in_force: 'IOC',
            });
          await placeThroughApi(sApi.token, {
            ...one,
            direction: 'sell',
            price: '195.00',
            time_in_force: 'GTC',
          });
          // Settled: the buyer holds 2 more shares, the seller has 1 reserved by the new sell.
          await eventually(async () => {
            expect(await held(buyer)).toBe(buyerHeld + 2n);
            expect((await fx.balance(seller.accountId, SYMBOL)).reserved).toBe(1n);
          });
          expect(await textOf(b, '[data-testid="feed-state"]')).toMatch(/Reconnecting/);
        } finally {
          refuse = false;
        }

        for (const page of [b, s]) await waitForText(page, '[data-testid="feed-state"]', /Live feed: Live/);
        // Market prints are not replayed by the feed: the page reads them again, so the last price is
        // the 190.00 printed while it was away.
        await waitForText(s, `[data-position="${SYMBOL}"] td:nth-of-type(3)`, '$190.00');
        // The seller's shares after: those not reserved before the drop (the 2 reserved were sold).
        await eventually(async () => expect(await cents(s, 'positions-value')).toBe(sellerHeld * 19000n));
        await waitForText(b, '[data-testid="last-trades"] tr:first-child td:nth-of-type(2)', '190.00');
        await eventually(async () => expect(await fills(s)).toBe(1));
        await eventually(async () =>
          expect(
            await s.evaluate(
              `document.querySelectorAll('[data-testid="activity"] li[data-exec-type="partial_fill"]').length`,
            ),
          ).toBe(1),
        );
        // The buyer's two IOC orders filled one share each.
        await eventually(async () => expect(await fills(b)).toBe(2));
        for (const page of [b, s]) {
          const seqs = await activitySeqs(page);
          expect(new Set(seqs).size, `seqs ${seqs.join(',')}`).toBe(seqs.length);
          expect(seqs, 'contiguous').toEqual(seqs.map((_, i) => seqs[0]! + i));
        }
        // Seller: the first sell filled 1, then 1 more (fill), and the new resting sell.
        expect(
          await s.evaluate(
            `[...document.querySelectorAll('[data-testid="activity"] li[data-exec-type]')].map((li) => li.dataset.execType).reverse()`,
          ),
        ).toEqual(['new', 'partial_fill', 'fill', 'new']);
        expect(problems.get(b)).toEqual([]);
        await s.screenshot({ path: join(ARTIFACTS, 'web-after-reconnect.png'), fullPage: true });
      });
    });
  });

  // Each test trades a symbol of its own, so the order of the tests does not matter.
  it('a stop order: refusals under the stop price, waiting for its trigger, then triggered by another page and filled live', async () => {
    const STOP = 'MSFT';
    const [trader, crosser, maker] = await Promise.all([
      createFundedUser(fx.api, '2000.00'),
      createFundedUser(fx.api, '1000.00'),
      createFundedUser(fx.api, '0', { [STOP]: 4n }),
    ]);
    // The book offers 4 shares at 430.00; nothing has traded in MSFT yet.
    await placeThroughApi(maker.token, {
      symbol: STOP,
      direction: 'sell',
      quantity: '4',
      price: '430.00',
      time_in_force: 'GTC',
    });
    await withPages('stop', 2, async ([traderPage, crosserPage]) => {
      const t = traderPage!;
      const c = crosserPage!;
      await login(t, trader.email);
      await login(c, crosser.email);
      const stop = {
        symbol: STOP,
        direction: 'buy',
        order_type: 'stop',
        quantity: '3',
        time_in_force: 'GTC',
      };

      // The api's refusals appear under the stop price: missing, off the cent grid, outside the band.
      await placeOrder(t, { ...stop, stop_price: '' });
      await waitForText(t, fieldErrorOf(TICKET, 'stop_price'), /is required for stop orders/);
      expect(await t.$(inputOf(TICKET, 'price')), 'a stop has no limit price').toBeNull();
      await placeOrder(t, { ...stop, stop_price: '429.995' });
      await waitForText(t, fieldErrorOf(TICKET, 'stop_price'), /at most 2 decimals/);
      await placeOrder(t, { ...stop, stop_price: '600.00' });
      await waitForText(t, fieldErrorOf(TICKET, 'stop_price'), /^Stop price must be between/);
      expect(await t.$('form[aria-label="Order ticket"] .form-error')).toBeNull();
      await expectAccessible(t, 'stop ticket with errors');

      await placeOrder(t, { ...stop, stop_price: '430.00' });
      const waiting = '#open-orders tr[data-status="pending_trigger"]';
      await t.waitForSelector(waiting);
      await waitForText(
        t,
        'form[aria-label="Order ticket"] .form-note',
        `Buy 3 ${STOP}: Waiting for trigger`,
      );
      await waitForText(t, `${waiting} [data-testid="order-stop"]`, '430.00');
      await waitForText(t, `${waiting} [data-testid="order-price"]`, 'market');
      await waitForText(t, `${waiting} td:nth-of-type(8)`, 'Waiting for trigger');
      // Held until it triggers: 3 shares at the price band's top (504.00).
      await waitForText(t, '[data-testid="cash-reserved"]', '$1,512.00');
      await t.waitForSelector('[data-testid="activity"] li[data-exec-type="new"]');
      expect(await textOf(t, '[data-testid="activity"] li[data-exec-type="new"]')).toMatch(
        /Waiting for trigger: buy MSFT 3, stop 430\.00/,
      );

      // Its stop price changes while it waits.
      await t.click(`${waiting} button[aria-label^="Replace"]`);
      await fill(t, `Replace buy 3 ${STOP}`, { stop_price: '429.50' });
      await expectAccessible(t, 'replace a stop');
      await submit(t, `Replace buy 3 ${STOP}`);
      await waitForText(t, `${waiting} [data-testid="order-stop"]`, '429.50');
      await t.screenshot({ path: join(ARTIFACTS, 'web-stop-waiting.png'), fullPage: true });

      // The other page buys 1 at 430.00: that trade meets the stop, which buys 3 at market.
      await placeOrder(c, {
        symbol: STOP,
        direction: 'buy',
        order_type: 'limit',
        quantity: '1',
        price: '430.00',
        time_in_force: 'IOC',
      });
      await c.waitForSelector('[data-testid="activity"] li[data-exec-type="fill"]');
      await t.waitForSelector('[data-testid="activity"] li[data-exec-type="triggered"]');
      await t.waitForSelector('[data-testid="activity"] li[data-exec-type="fill"]');
      expect(await textOf(t, '[data-testid="activity"] li[data-exec-type="replaced"]')).toMatch(
        /Replaced: buy MSFT now 3, stop 429\.50$/,
      );
      expect(await textOf(t, '[data-testid="activity"] li[data-exec-type="triggered"]')).toMatch(
        /Triggered: buy MSFT 3, stop 429\.50 reached/,
      );
      await t.waitForSelector('::-p-text(No open orders.)');
      const filled = '#history tr[data-status="filled"]';
      await waitForText(t, `${filled} [data-testid="order-stop"]`, '429.50');
      // 3 x 430.00 = 1,290.00 paid, the rest of the reservation given back.
      await waitForText(t, '[data-testid="cash-reserved"]', '$0.00');
      await waitForText(t, '[data-testid="cash-available"]', '$710.00');
      await waitForText(t, `[data-position="${STOP}"] td`, '3');
      expect(await fx.balance(trader.accountId)).toEqual({ available: 71000n, reserved: 0n });

      await t.click(`${filled} button[aria-label^="Details"]`);
      await waitForText(t, '[data-testid="details-stop"]', '429.50');
      await t.waitForSelector('[data-testid="order-timeline"] li[data-step="fill"]');
      const steps = await timelineSteps(t);
      expect(steps.slice(0, 3)).toEqual(['received', 'validated', 'funds_reserved']);
      expect(steps.slice(-3)).toEqual(['replaced', 'triggered', 'fill']);
      const stepText = (type: string) => textOf(t, `[data-testid="order-timeline"] li[data-step="${type}"]`);
      // Received and replaced carry the stop price as it was then.
      expect(await stepText('received')).toMatch(/buy 3 MSFT, Stop, stop price 430\.00, GTC$/);
      expect(await stepText('replaced')).toMatch(/now 3 shares, stop price 429\.50$/);
      expect(await stepText('triggered')).toMatch(/stop price 429\.50 reached/);
      await expectAccessible(t, 'details of a triggered stop');
      await t.screenshot({ path: join(ARTIFACTS, 'web-stop-filled.png'), fullPage: true });
    });
  });

  it('cancel-all asks first, then cancels the open orders of one symbol or of all and says how many', async () => {
    const user = await createFundedUser(fx.api, '1000.00');
    await withPages('cancel-all', 1, async ([page]) => {
      const p = page!;
      await login(p, user.email);
      const button = '#open-orders button::-p-text(Cancel all…)';
      expect(
        await p.evaluate(`document.querySelector('#open-orders .toolbar button').disabled`),
        'nothing to cancel',
      ).toBe(true);
      const buy = { direction: 'buy', order_type: 'limit', quantity: '1', time_in_force: 'GTC' };
      for (const [symbol, price] of [
        ['TSLA', '240.00'],
        ['TSLA', '239.00'],
        ['GOOG', '165.00'],
      ] as const) {
        const before = (await p.$$('#open-orders tr[data-status="working"]')).length;
        await placeOrder(p, { ...buy, symbol, price });
        await p.waitForFunction(
          `document.querySelectorAll('#open-orders tr[data-status="working"]').length === ${before + 1}`,
        );
      }
      await waitForText(p, '[data-testid="cash-reserved"]', '$644.00');

      // Declined with Escape: nothing cancelled, the focus back on the button.
      await p.click(button);
      const confirm = 'form[aria-label="Cancel all open orders"]';
      await p.waitForSelector(confirm);
      expect(await textOf(p, `${confirm} .question`)).toBe(
        'Cancel 3 open orders? Anything already filled stays filled.',
      );
      await expectFocus(p, 'name', 'symbol');
      await expectAccessible(p, 'cancel-all confirmation');
      await p.keyboard.press('Escape');
      await p.waitForSelector(confirm, { hidden: true });
      await expectFocus(p, 'textContent', 'Cancel all…');
      expect(await p.$$('#open-orders tr[data-status="working"]')).toHaveLength(3);

      // TSLA only: two cancelled, GOOG still open.
      await p.click(button);
      await fill(p, 'Cancel all open orders', { symbol: 'TSLA' });
      await waitForText(
        p,
        `${confirm} .question`,
        'Cancel 2 open orders of TSLA? Anything already filled stays filled.',
      );
      await p.screenshot({ path: join(ARTIFACTS, 'web-cancel-all.png'), fullPage: true });
      await submit(p, 'Cancel all open orders');
      await waitForText(p, '[data-testid="cancel-all-result"]', 'Cancelled 2 orders.');
      await p.waitForFunction(
        `[...document.querySelectorAll('#open-orders tr[data-order] th')].map((th) => th.textContent).join() === 'GOOG'`,
      );
      await waitForText(p, '[data-testid="cash-reserved"]', '$165.00');
      await p.waitForSelector('#history tr[data-status="cancelled"]');

      // Then all of them (one symbol left: no choice to make).
      await p.click(button);
      await p.waitForSelector(confirm);
      expect(await p.$(inputOf('Cancel all open orders', 'symbol'))).toBeNull();
      await submit(p, 'Cancel all open orders');
      await waitForText(p, '[data-testid="cancel-all-result"]', 'Cancelled 1 order.');
      await p.waitForSelector('::-p-text(No open orders.)');
      await waitForText(p, '[data-testid="cash-reserved"]', '$0.00');
      await waitForText(p, '[data-testid="cash-available"]', '$1,000.00');
      expect(await fx.balance(user.accountId)).toEqual({ available: 100000n, reserved: 0n });
      await expectAccessible(p, 'after cancel-all');
    });
  });

  it("an order's details show its timeline, step by step, beside its executions", async () => {
    const [buyer, seller] = await Promise.all([
      createFundedUser(fx.api, '1000.00'),
      createFundedUser(fx.api, '0', { AMZN: 2n }),
    ]);
    await withPages('timeline', 1, async ([page]) => {
      const p = page!;
      await login(p, buyer.email);
      await placeOrder(p, {
        symbol: 'AMZN',
        direction: 'buy',
        order_type: 'limit',
        quantity: '2',
        price: '180.00',
        time_in_force: 'GTC',
      });
      await p.waitForSelector('#open-orders tr[data-status="working"]');
      await placeThroughApi(seller.token, {
        symbol: 'AMZN',
        direction: 'sell',
        quantity: '2',
        price: '180.00',
        time_in_force: 'IOC',
      });
      const filled = '#history tr[data-status="filled"]';
      await p.waitForSelector(filled);

      await p.focus(`${filled} button[aria-label^="Details"]`);
      await p.keyboard.press('Enter');
      await p.waitForSelector('[data-testid="order-timeline"] li[data-step="fill"]');
      // The details take the focus (keyboard users land on them) and give it back when closed.
      await expectFocus(p, 'id', 'order-details-title');
      expect(await timelineSteps(p)).toEqual([
        'received',
        'validated',
        'funds_reserved',
        'submitted',
        'accepted',
        'fill',
      ]);
      const step = (type: string) => textOf(p, `[data-testid="order-timeline"] li[data-step="${type}"]`);
      expect(await step('received')).toMatch(/buy 2 AMZN, Limit at 180\.00, GTC/);
      expect(await step('funds_reserved')).toMatch(/\$360\.00/);
      expect(await step('fill')).toMatch(/Filled.*2 @ 180\.00, 2 filled in all/);
      await p.waitForSelector('[data-testid="order-executions"] ::-p-text(180.00)');
      expect(await p.evaluate(`document.querySelector('#order-details a').href`)).toMatch(
        /\/workflows\/order-/,
      );
      await expectAccessible(p, 'order details with the timeline');
      await p.screenshot({ path: join(ARTIFACTS, 'web-order-timeline.png'), fullPage: true });
      await p.click('::-p-text(Close details)');
      expect(await p.evaluate('document.activeElement.getAttribute("aria-label")')).toBe(
        'Details of buy 2 AMZN',
      );
    });
  });
});
