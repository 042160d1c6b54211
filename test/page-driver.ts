/**
 * Driving the trader's page (web/) in Chromium as a user does: forms found by their accessible name and
 * inputs by the api's field name, typed into and submitted; the login with the mailed code; text waited
 * for; axe-core run on a view; and what a working page must never log (errors, CSP refusals) collected.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Page } from 'puppeteer-core';
import { expect } from 'vitest';
import { loginCode } from './users.js';

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/**
 * Collect what the page logs that a working page must not: errors and CSP refusals. Expected and left
 * out: the api's 4xx answers (the page shows them) and sockets the server cut.
 */
export function pageProblems(page: Page): string[] {
  const logged: string[] = [];
  const expected = /WebSocket connection to .* failed|the server responded with a status of 4\d\d/;
  page.on('console', (m) => {
    if (m.type() === 'error' && !expected.test(m.text())) logged.push(m.text());
  });
  page.on('pageerror', (e) => logged.push(String(e)));
  return logged;
}

/** axe-core on the current view: no violations (the script is evaluated over CDP, outside the CSP). */
export async function expectAccessible(page: Page, view: string): Promise<void> {
  if ((await page.evaluate('typeof window.axe')) === 'undefined') await page.evaluate(AXE);
  const violations = (await page.evaluate(
    `axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations.map((v) => v.id + ': ' + v.nodes.map((n) => n.target.join(' ')).join(', ')))`,
  )) as string[];
  expect(violations, `axe violations on the ${view} view`).toEqual([]);
}

export const textOf = (page: Page, selector: string) =>
  page.evaluate(`document.querySelector(${JSON.stringify(selector)})?.textContent ?? null`) as Promise<
    string | null
  >;

/** The text of every element `selector` matches, in document order. */
export const textsOf = (page: Page, selector: string) =>
  page.evaluate(
    `[...document.querySelectorAll(${JSON.stringify(selector)})].map((e) => e.textContent ?? '')`,
  ) as Promise<string[]>;

/** Wait until the element's trimmed text matches `expected` (a string matches whole). */
export async function waitForText(
  page: Page,
  selector: string,
  expected: string | RegExp,
  timeout = 20_000,
): Promise<void> {
  const pattern =
    typeof expected === 'string' ? `^${expected.replace(/[.*+?^${}()|[\]\\$]/g, '\\$&')}$` : expected.source;
  await page
    .waitForFunction(
      `(() => { const el = document.querySelector(${JSON.stringify(selector)}); return !!el && new RegExp(${JSON.stringify(pattern)}).test(el.textContent.trim()); })()`,
      { timeout },
    )
    .catch(async (err: Error) => {
      throw new Error(
        `${selector}: expected ${String(expected)}, saw ${await textOf(page, selector)} (${err.message})`,
      );
    });
}

/** The input (or select) of the form named `form` for the api field `field`. */
export const inputOf = (form: string, field: string) =>
  `form[aria-label="${form}"] [data-field="${field}"] :is(input, select)`;

/** The message shown under an input (the api's validation messages for its field). */
export const fieldErrorOf = (form: string, field: string) =>
  `form[aria-label="${form}"] [data-field="${field}"] .field-error`;

export async function fill(page: Page, form: string, values: Record<string, string>): Promise<void> {
  for (const [field, value] of Object.entries(values)) {
    const selector = inputOf(form, field);
    const tag = (await page.evaluate(
      `document.querySelector(${JSON.stringify(selector)})?.tagName`,
    )) as string;
    if (tag === 'SELECT') {
      await page.select(selector, value);
      continue;
    }
    // The driver selects the old text, then types. A re-render in between (a feed event on a busy
    // machine) can drop the selection, leaving the old text in front ("239.00165.00"): check, empty the
    // field with the keyboard as a user would, and fill again.
    for (let attempt = 1; ; attempt++) {
      await page.locator(selector).fill(value);
      const now = await page.$eval(selector, (el) => (el as unknown as { value: string }).value);
      if (now === value || attempt === 3) break;
      await page.click(selector, { clickCount: 3 });
      await page.keyboard.press('Backspace');
    }
  }
}

export async function submit(page: Page, form: string): Promise<void> {
  await page.click(`form[aria-label="${form}"] button[type="submit"]`);
}

/** Log in through the login view with the code mailed for this login, up to the live trading page. */
export async function logInThroughPage(page: Page, email: string, password: string): Promise<void> {
  await fill(page, 'Log in', { email, password });
  const after = Date.now() - 1000;
  await submit(page, 'Log in');
  await page.waitForSelector('form[aria-label="Login code"]');
  await fill(page, 'Login code', { code: await loginCode(email, after) });
  await submit(page, 'Login code');
  await waitForText(page, '[data-testid="feed-state"]', /Live feed: Live/);
}

/**
 * The focused element's `property` (`id`, `name`, `textContent`) is `expected`: the page moves focus in an
 * effect after it renders, so this waits for it (5 s) before asserting.
 */
export async function expectFocus(page: Page, property: string, expected: string): Promise<void> {
  const read = `document.activeElement?.${property}`;
  await page
    .waitForFunction(`${read} === ${JSON.stringify(expected)}`, { timeout: 5000 })
    .catch(() => undefined);
  expect(await page.evaluate(read)).toBe(expected);
}
